"""A refreshed OAuth pair lost in flight is told apart from a revoked one, and handled.

The real sandbox portal's token endpoint (it rotates the refresh token before it answers,
and ``token_stall_seconds`` holds the answer), the real Bitrix24 OAuth adapter and the real
store on both backends. A refresher "killed" inside the window is a task cancelled after the
sandbox rotated the token (nothing of it runs afterwards, as after ``kill -9``: the store
was last written before the OAuth server was called); a second store handle and adapter
play the successor process.

Before refreshes were recorded in flight, the successor got a bare ``invalid_grant``
(``AUTHORIZATION_ERROR``, dead letter ``configuration_error``) on every command, each
spending a request on the token endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from pydantic import AnyHttpUrl, SecretStr

from tests.amqp_helpers import wait_for
from tests.oauth.test_shared_refresh import CommitsFail
from tests.store.conftest import Backend
from tests.store.test_shared_tokens import Quiet
from worker.adapters.bitrix24 import auth as auth_module
from worker.adapters.bitrix24.auth import OAuthAuth
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.bitrix24.tokens import SharedTokens
from worker.adapters.store import SqlStore, open_store
from worker.errors import ReauthorizationRequired
from worker.observability.metrics import Metrics
from worker.observability.upstream import UpstreamObserver
from worker.runtime.policy import Action, RetryPolicy
from worker.sandbox.portal import PortalOptions
from worker.sandbox.portal.server import SandboxPortal
from worker.sandbox.registrations import RegistrationStore
from worker.settings import OAuthApp
from worker.store import TokenRecord, fingerprint

DOMAIN = "lost.bitrix24.test"
LEASE = timedelta(seconds=1)


@asynccontextmanager
async def _portal() -> AsyncIterator[SandboxPortal]:
    options = PortalOptions(domain=DOMAIN, oauth_client_secret="client-secret-canary")
    async with SandboxPortal(registrations=RegistrationStore(), options=options) as portal:
        yield portal


Two = tuple[SandboxPortal, aiohttp.ClientSession, SqlStore, SqlStore]


@asynccontextmanager
async def _two_processes(backend: Backend) -> AsyncIterator[Two]:
    """The portal, an HTTP session, and one store handle per process."""
    async with (
        _portal() as portal,
        aiohttp.ClientSession() as session,
        open_store(backend.settings()) as first,
        open_store(backend.settings()) as second,
    ):
        yield portal, session, first, second


async def _install(store: SqlStore, portal: SandboxPortal) -> tuple[str, str]:
    """What the install callback does: a new pair from the portal, stored."""
    pair = portal.grant_tokens()
    async with store.unit_of_work() as uow:
        await uow.tokens.put(
            DOMAIN,
            access_token=SecretStr(pair.access_token),
            refresh_token=SecretStr(pair.refresh_token),
            expires_at=None,
        )
        await uow.commit()
    return pair.access_token, pair.refresh_token


def _auth(
    store: object,
    portal: SandboxPortal,
    session: aiohttp.ClientSession,
    access: str,
    refresh: str,
    *,
    timeout: float = 10.0,
    observer: object | None = None,
) -> OAuthAuth:
    app = OAuthApp(
        client_id=portal.options.oauth_client_id,
        client_secret=SecretStr(portal.options.oauth_client_secret),
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        rest_url=AnyHttpUrl(portal.rest_url),
        server_url=AnyHttpUrl(portal.token_url),
    )
    return OAuthAuth(
        portal=DOMAIN,
        app=app,
        session=session,
        store=SharedTokens(store, lease=LEASE),  # type: ignore[arg-type]
        timeout=aiohttp.ClientTimeout(total=timeout),
        redactor=Redactor(),
        observer=observer or Quiet(),  # type: ignore[arg-type]
    )


async def _stored(store: SqlStore) -> TokenRecord:
    async with store.unit_of_work(readonly=True) as uow:
        record = await uow.tokens.get(DOMAIN)
    assert record is not None
    return record


async def _rotated(portal: SandboxPortal, count: int) -> None:
    await wait_for(lambda: portal.counters.token_refreshes >= count, 10, "the rotation")


async def _use(auth: OAuthAuth, access: str) -> None:
    """What a command does: take the token and, on ``expired_token``, refresh it."""
    await auth.token()
    await auth.refresh(access)


def _rejections(portal: SandboxPortal) -> int:
    return portal.counters.auth_rejections["invalid_grant"]


async def test_a_refresher_killed_after_the_rotation_leaves_a_portal_marked_lost(
    backend: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(auth_module, "REAUTH_RECHECK", 0.0)
    async with _two_processes(backend) as (portal, session, first_store, second_store):
        access, refresh = await _install(first_store, portal)
        killed = _auth(first_store, portal, session, access, refresh)
        metrics = Metrics()
        observer = UpstreamObserver(metrics=metrics)
        successor = _auth(second_store, portal, session, access, refresh, observer=observer)
        portal.set_faults(token_stall_seconds=3)  # rotated, then no answer for 3 s
        dying = asyncio.create_task(killed.refresh(access))
        await _rotated(portal, 1)
        in_flight = (await _stored(second_store)).in_flight
        assert in_flight is not None  # recorded, and committed, before the call
        assert in_flight.fingerprint == fingerprint(SecretStr(refresh))
        dying.cancel()  # killed inside the window: nothing of it runs any more
        with pytest.raises(asyncio.CancelledError):
            await dying
        portal.set_faults(token_stall_seconds=0)

        # the successor waits out the lease, spends the (spent) token once, and knows
        with pytest.raises(ReauthorizationRequired) as raised:
            await successor.refresh(access)
        assert "lost in flight" in raised.value.message
        assert in_flight.owner.split("/")[0] in raised.value.message  # who, and when
        assert _rejections(portal) == 1
        record = await _stored(first_store)
        assert record.reauth is not None
        assert record.reauth.reason == "refresh_lost"
        assert record.in_flight is None

        # the portal's commands now end at once, with their own dead-letter reason, and no
        # request reaches the token endpoint (no refresh per command), in either process
        for auth in (successor, successor, killed):
            with pytest.raises(ReauthorizationRequired) as again:
                await _use(auth, access)
            decision = RetryPolicy(delays=(1.0,), max_attempts=3).decide(again.value, 1)
            assert (decision.action, decision.dead_letter_reason) == (
                Action.PARK,
                "reauthorization_required",
            )
        assert (_rejections(portal), portal.counters.token_refreshes) == (1, 1)
        marked = metrics.registry.get_sample_value(
            "sipline_oauth_reauthorizations_required_total", {"reason": "refresh_lost"}
        )
        assert marked == 1.0  # once, by the process that found the pair gone
        marks = [r for r in caplog.records if "needs authorising again" in r.getMessage()]
        assert len(marks) == 1
        assert marks[0].levelno == logging.ERROR
        assert DOMAIN in marks[0].getMessage()
        assert "sipline dlq replay --reason reauthorization_required" in marks[0].getMessage()

        # installing the application again clears the mark; the portal is served again
        new_access, new_refresh = await _install(first_store, portal)
        assert (await _stored(second_store)).reauth is None
        assert await successor.token() == new_access
        assert await killed.token() == new_access
        for secret in (refresh, new_refresh, access, "client-secret-canary"):
            assert secret not in caplog.text
            assert secret not in raised.value.message
            assert secret not in str(record)


async def test_an_answer_lost_to_a_timeout_is_known_lost_at_the_next_refresh(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A live process whose refresh timed out after the rotation: no wait for a lease, and
    the next refresh's ``invalid_grant`` is a lost pair, not a revoked one."""
    async with (
        _portal() as portal,
        aiohttp.ClientSession() as session,
        open_store(backend.settings()) as store,
    ):
        access, refresh = await _install(store, portal)
        auth = _auth(store, portal, session, access, refresh, timeout=0.5)
        portal.set_faults(token_stall_seconds=1.5)
        with pytest.raises(Exception) as timed_out:
            await auth.refresh(access)
        assert getattr(timed_out.value, "code", None) == "CONNECTION_ERROR"
        record = await _stored(store)
        assert record.in_flight is not None  # kept as evidence, its lease ended
        portal.set_faults(token_stall_seconds=0)
        with pytest.raises(ReauthorizationRequired, match="lost in flight"):
            await auth.refresh(access)
        assert (await _stored(store)).reauth is not None
        assert refresh not in caplog.text


async def test_a_pair_the_store_never_took_is_known_lost_by_the_successor(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint answered but the store refused the new pair, and the process holding it
    in memory died: the successor's ``invalid_grant`` is a lost pair."""
    monkeypatch.setattr("worker.store.tokens.PERSIST_BACKOFF", 0.01)
    async with (
        _portal() as portal,
        aiohttp.ClientSession() as session,
        open_store(backend.settings()) as real,
    ):
        access, refresh = await _install(real, portal)
        flaky = CommitsFail(real)
        holder = _auth(flaky, portal, session, access, refresh)
        flaky.broken, flaky.spare = True, 1  # the claim commits; storing the pair fails
        await holder.refresh(access)
        assert holder.degraded  # the new pair lives only in this (now dying) process
        await asyncio.sleep(LEASE.total_seconds())
        successor = _auth(real, portal, session, access, refresh)
        with pytest.raises(ReauthorizationRequired, match="lost in flight"):
            await successor.refresh(access)


async def test_a_revoked_token_is_told_apart_from_a_lost_one(backend: Backend) -> None:
    async with (
        _portal() as portal,
        aiohttp.ClientSession() as session,
        open_store(backend.settings()) as store,
    ):
        access, refresh = await _install(store, portal)
        portal.oauth.revoke_all()  # uninstalled: nobody was refreshing
        auth = _auth(store, portal, session, access, refresh)
        with pytest.raises(ReauthorizationRequired, match="uninstalled or its tokens revoked"):
            await auth.refresh(access)
        record = await _stored(store)
        assert record.reauth is not None
        assert record.reauth.reason == "refresh_refused"
        with pytest.raises(ReauthorizationRequired):
            await auth.token()
        assert _rejections(portal) == 1


async def test_a_live_refresher_is_waited_for_not_overtaken(backend: Backend) -> None:
    """A slow but live refresh inside its lease: the other process waits and reads its pair
    (one refresh, no ``invalid_grant``, nothing marked)."""
    async with _two_processes(backend) as (portal, session, first_store, second_store):
        access, refresh = await _install(first_store, portal)
        slow = _auth(first_store, portal, session, access, refresh)
        other = _auth(second_store, portal, session, access, refresh)
        slow._store = SharedTokens(first_store, lease=timedelta(seconds=10))  # type: ignore[assignment]
        portal.set_faults(token_stall_seconds=0.7)
        first = asyncio.create_task(slow.refresh(access))
        await _rotated(portal, 1)
        await other.refresh(access)
        await first
        assert await slow.token() == await other.token()
        assert (portal.counters.token_refreshes, _rejections(portal)) == (1, 0)
        assert (await _stored(first_store)).reauth is None
