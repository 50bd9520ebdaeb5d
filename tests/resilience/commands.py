"""Valid commands for the scenarios, and waiting for the run to finish and fall quiet."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from tests.resilience.conftest import PORTAL, SIP_SERVER
from tests.resilience.ledger import Tap
from tests.resilience.processes import until
from tests.resilience.secrets import SIP_PASSWORD


def command(type_: str, data: dict[str, Any], *, tag: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{tag}-{uuid.uuid4().hex}",
        "type": type_,
        "source": "urn:sipline:resilience",
        "portal": PORTAL,
        "data": data,
    }


def create(title: str, *, tag: str) -> dict[str, Any]:
    data = {"title": title, "server": SIP_SERVER, "login": f"u-{title}", "password": SIP_PASSWORD}
    return command("line.create", data, tag=tag)


def reconcile(config_id: int, *, tag: str) -> dict[str, Any]:
    return command("line.reconcile", {"config_id": config_id}, tag=tag)


def delete(config_id: int, *, tag: str) -> dict[str, Any]:
    return command("line.delete", {"config_id": config_id}, tag=tag)


def mix(
    config_ids: list[int], *, total: int, creates: int, deletes: int, tag: str
) -> list[dict[str, Any]]:
    """``creates`` unique creates, ``deletes`` deletes of the last pre-made lines, the rest
    reconciles of the other pre-made lines, interleaved so every kind runs throughout."""
    doomed, kept = config_ids[-deletes:] if deletes else [], config_ids[: len(config_ids) - deletes]
    special = [create(f"{tag}-line-{n}", tag=tag) for n in range(creates)]
    special += [delete(cid, tag=tag) for cid in doomed]
    plain = [reconcile(kept[n % len(kept)], tag=tag) for n in range(total - len(special))]
    out: list[dict[str, Any]] = []
    step = max(1, len(plain) // max(1, len(special)))
    for n, item in enumerate(plain):
        out.append(item)
        if n % step == 0 and special:
            out.append(special.pop())
    return out + special


async def depth(tap: Tap, name: str) -> int:
    queue = await tap.channel.declare_queue(name, passive=True)
    return int(queue.declaration_result.message_count or 0)


async def quiet(tap: Tap, *, limit: float = 60.0, calm: float = 1.5, depths: bool = True) -> None:
    """Wait until the command queue and every delay tier are empty and no event has
    arrived for ``calm`` seconds: late duplicates have then been counted.

    ``depths=False`` relies on the calm alone: after ``stop_app``/``start_app`` RabbitMQ
    3.10 reported a quorum queue's message count in ``declare-ok`` as hundreds while
    ``basic.get`` found nothing ready and nothing was unacked."""
    names = [tap.spec.names.commands_queue]
    names += [tap.spec.names.delay_queue(s) for s in tap.spec.delay_tiers]
    last = (-1, time.monotonic())
    seen: dict[str, int] = {}

    async def still() -> bool:
        nonlocal last
        count = len(tap.ledger.events) + len(tap.ledger.dead)
        now = time.monotonic()
        if count != last[0]:
            last = (count, now)
            return False
        if now - last[1] < calm:
            return False
        if not depths:
            return True
        found = await asyncio.gather(*(depth(tap, n) for n in names))
        seen.update(zip(names, found, strict=True))
        return sum(found) == 0

    try:
        await until(still, limit=limit, what="the run to fall quiet", every=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; events+dead={last[0]}; queue depths {seen}") from None
