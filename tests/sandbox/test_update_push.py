"""``voximplant.sip.update`` pushes the line to the sandbox Voximplant again, as Bitrix24 does:
given the server, login or password (changed or not) the registration re-registers, which
heals a divergence unless it is sticky; a lost registration is made again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, RegistrationStore


@pytest.fixture
async def portal() -> AsyncIterator[SandboxPortal]:
    store = RegistrationStore(wait_seconds=0.0, progress_seconds=0.0)
    started = SandboxPortal(registrations=store, options=PortalOptions())
    await started.start()
    yield started
    await started.stop()


async def _call(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body) as response:
        return await response.json()


async def _line(portal: SandboxPortal, session: aiohttp.ClientSession) -> dict[str, Any]:
    body = {"TITLE": "t", "SERVER": DEFAULT_SERVER, "LOGIN": "100", "PASSWORD": DEFAULT_PASSWORD}
    return dict((await _call(session, portal.webhook_url + "voximplant.sip.add", body))["result"])


async def _reapply(portal: SandboxPortal, session: aiohttp.ClientSession, config_id: int) -> None:
    body = {"CONFIG_ID": config_id, "SERVER": DEFAULT_SERVER, "LOGIN": "100"}
    answer = await _call(session, portal.webhook_url + "voximplant.sip.update", body)
    assert answer["result"] == 1


def _proxy(portal: SandboxPortal, reg_id: int) -> str | None:
    reg = portal.lines.registrations.get(reg_id)
    view = None if reg is None else portal.lines.registrations.voximplant_view(reg)
    return None if view is None else view.proxy


async def test_the_same_values_heal_a_divergence(
    portal: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    line = await _line(portal, session)
    portal.lines.registrations.diverge(line["REG_ID"], proxy="drifted.example.net")
    assert _proxy(portal, line["REG_ID"]) == "drifted.example.net"
    await _reapply(portal, session, line["CONFIG_ID"])
    assert _proxy(portal, line["REG_ID"]) == DEFAULT_SERVER


async def test_a_title_alone_pushes_nothing_and_a_sticky_divergence_stays(
    portal: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    line = await _line(portal, session)
    portal.lines.registrations.diverge(line["REG_ID"], proxy="drifted.example.net")
    body = {"CONFIG_ID": line["CONFIG_ID"], "TITLE": "renamed"}
    await _call(session, portal.webhook_url + "voximplant.sip.update", body)
    assert _proxy(portal, line["REG_ID"]) == "drifted.example.net"
    portal.lines.registrations.diverge(line["REG_ID"], sticky=True)
    await _reapply(portal, session, line["CONFIG_ID"])
    assert _proxy(portal, line["REG_ID"]) == "drifted.example.net"


async def test_a_removed_registration_is_made_again(
    portal: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    line = await _line(portal, session)
    portal.lines.registrations.remove(line["REG_ID"])
    await _reapply(portal, session, line["CONFIG_ID"])
    listed = await _call(session, portal.webhook_url + "voximplant.sip.get", {})
    [again] = listed["result"]
    assert int(again["REG_ID"]) != line["REG_ID"]
    assert _proxy(portal, int(again["REG_ID"])) == DEFAULT_SERVER
