"""Reading every line and status of a portal: pages 2..N and the statuses inside ``batch``,
against the sandbox portal (which answers ``batch`` of ``voximplant.sip.get`` with
``start``, ``SORT`` and ``ORDER``, and of ``voximplant.sip.status``)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from worker.adapters.bitrix24 import BatchCall, Bitrix24Client, CallOutcome, SipStatus
from worker.adapters.bitrix24.survey import LISTING_CHANGED, survey
from worker.adapters.upstream import Tally
from worker.errors import TransientError
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER

_numbers = itertools.count()


@pytest.fixture
def options(options: PortalOptions) -> PortalOptions:
    return replace(options, cloud_pbx_limit=1000)


def populate(portal: SandboxPortal, lines: int, line_type: str = "cloud") -> None:
    """Lines made through the portal's state (no requests)."""
    for _ in range(lines):
        n = next(_numbers)
        params = {
            "TYPE": line_type,
            "TITLE": f"survey line {n:05d}",
            "SERVER": DEFAULT_SERVER,
            "LOGIN": f"survey-{n:05d}",
            "PASSWORD": DEFAULT_PASSWORD,
        }
        portal.lines.add(params, None)


@pytest.mark.parametrize(
    ("cloud", "office", "requests"),
    [
        (0, 0, 1),  # the first page says there is nothing more
        (30, 0, 2),  # one page; its 30 statuses in one batch
        (120, 0, 4),  # pages 2-3 and 120 statuses: 122 commands, 3 batches
        (60, 0, 3),  # page 2 and 60 statuses: 61 commands, 2 batches (page by page: 4)
        (100, 50, 4),  # pages 2-3 and 100 statuses: 102 commands, 3 batches
    ],
)
async def test_pages_and_statuses_share_full_batches(
    client: Bitrix24Client, portal: SandboxPortal, cloud: int, office: int, requests: int
) -> None:
    populate(portal, cloud)
    populate(portal, office, "office")
    portal.counters.reset()
    tally = Tally()
    read = await survey(client, tally=tally)
    assert [x.config_id for x in read.lines] == sorted(portal.lines.lines)
    cloud_ids = {x.reg_id for x in read.lines if x.line_type == "cloud"}
    assert set(read.statuses) == cloud_ids
    assert all(isinstance(s, SipStatus) for s in read.statuses.values())
    assert tally.requests == portal.counters.requests == requests


async def test_a_line_added_while_paging_makes_the_survey_read_again(
    client: Bitrix24Client, portal: SandboxPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(portal, 120)
    real = client.batch_request
    added = 0

    async def racing(chunk: Sequence[BatchCall], **kw: Any) -> list[CallOutcome]:
        nonlocal added
        if added == 0:  # a line appears between the first page and the others
            populate(portal, 1)
            added += 1
        return await real(chunk, **kw)

    monkeypatch.setattr(client, "batch_request", racing)
    read = await survey(client)
    assert len(read.lines) == 121
    assert len({x.config_id for x in read.lines}) == 121


async def test_a_portal_that_keeps_changing_is_a_transient_error(
    client: Bitrix24Client, portal: SandboxPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(portal, 60)
    real = client.batch_request

    async def racing(chunk: Sequence[BatchCall], **kw: Any) -> list[CallOutcome]:
        populate(portal, 1)
        return await real(chunk, **kw)

    monkeypatch.setattr(client, "batch_request", racing)
    with pytest.raises(TransientError) as caught:
        await survey(client)
    assert caught.value.code == LISTING_CHANGED


async def test_a_missing_registration_is_reported_per_line(
    client: Bitrix24Client, portal: SandboxPortal
) -> None:
    populate(portal, 3)
    gone = next(iter(portal.lines.lines.values())).reg_id
    assert gone is not None
    portal.lines.registrations.remove(gone)
    read = await survey(client)
    assert getattr(read.statuses[gone], "code", None) == "REG_ID_NOT_FOUND"
    assert sum(isinstance(s, SipStatus) for s in read.statuses.values()) == 2
