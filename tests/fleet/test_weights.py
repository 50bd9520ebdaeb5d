"""Members on the real broker count shares in portals while they agree on the portals, and
fall back to counting shards (never leaving a shard to nobody) while they do not."""

from __future__ import annotations

from tests.amqp_helpers import wait_for
from tests.fleet.conftest import SHARDS, Fleet
from worker.fleet.shards import assign, portal_weights

PORTALS = [f"w{i:03d}.bitrix24.test" for i in range(20)]


def holdings(fleet: Fleet) -> dict[str, frozenset[int]]:
    return {tag: member.held for tag, (member, _) in fleet.members.items()}


async def test_members_weigh_by_portals_only_while_they_agree(fleet: Fleet) -> None:
    weights = portal_weights(PORTALS, SHARDS)
    await fleet.start("a", portals=PORTALS)
    await fleet.start("b", portals=PORTALS)
    by_portals = assign(SHARDS, {"a", "b"}, weights)
    assert by_portals != assign(SHARDS, {"a", "b"})  # else this test proves nothing
    await wait_for(lambda: holdings(fleet) == by_portals, 20, "shares counted in portals")

    # a member configured with other portals: everyone counts shards until it leaves
    await fleet.start("c", portals=PORTALS[:-1])
    by_count = assign(SHARDS, {"a", "b", "c"})
    await wait_for(lambda: holdings(fleet) == by_count, 20, "shares counted in shards")
    await fleet.stop("c")
    await wait_for(lambda: holdings(fleet) == by_portals, 20, "portals again")
