"""The repositories (one per aggregate) and the unit of work that commits them as one.

Use::

    async with store.unit_of_work() as uow:
        portal = await uow.portals.get("example.bitrix24.ru")
        ...
        await uow.commit()          # leaving without commit() rolls everything back

A unit of work is one database transaction. On SQLite a writing unit of work holds the
database's write lock from its first statement (``BEGIN IMMEDIATE``), so keep it short and
do no network I/O inside, with one deliberate exception: :func:`worker.store.refresh_under_lock`.
``store.unit_of_work(readonly=True)`` takes no write lock (for listings and status pages).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from pydantic import SecretStr

from worker.store.records import (
    Cadence,
    Firing,
    LineChange,
    LineFilter,
    LineKey,
    LineRecord,
    PortalRecord,
    PortalState,
    ReauthReason,
    RepairRecord,
    TickRecord,
    TokenRecord,
)


class PortalRepository(Protocol):
    """The portal registry. Domains are stored lower-case."""

    async def get(self, domain: str) -> PortalRecord | None: ...

    async def list(self, *, enabled: bool | None = None) -> list[PortalRecord]:
        """Every portal (or only enabled / disabled ones), ordered by domain."""
        ...

    async def states(self, *, after: str | None = None, limit: int) -> Sequence[PortalState]:
        """Up to ``limit`` registered portals past the domain ``after``, by domain, without
        their secrets (keyset paging of ``GET /v1/portals``)."""
        ...

    async def by_member_id(self, member_id: str) -> PortalRecord | None:
        """The portal a Bitrix24 install or event names by its ``member_id``."""
        ...

    async def add(self, portal: PortalRecord) -> PortalRecord:
        """Insert; raises :class:`~worker.store.PortalExists`. Returns the stored record."""
        ...

    async def update(self, portal: PortalRecord) -> PortalRecord:
        """Overwrite every field but the creation time; raises ``PortalNotFound``."""
        ...

    async def remove(self, domain: str) -> bool:
        """Delete the portal and its OAuth tokens; False when there was no such portal."""
        ...

    async def revision(self) -> int:
        """A number that grows with every add, update and remove of any portal.

        One cheap read: a worker polls it and reloads the registry only when it moved.
        """
        ...


class TokenRepository(Protocol):
    """OAuth token pairs, shared by every process that serves the portal."""

    async def get(self, portal: str) -> TokenRecord | None: ...

    async def lock(self, portal: str) -> TokenRecord | None:
        """Read the pair and hold its row lock until the unit of work ends.

        ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the writing unit of work already
        holds the database's write lock. Others calling ``lock`` wait here.
        """
        ...

    async def put(
        self,
        portal: str,
        *,
        access_token: SecretStr,
        refresh_token: SecretStr,
        expires_at: datetime | None,
    ) -> TokenRecord:
        """Store a new pair (insert or replace); its generation is one above the last.

        It ends any refresh recorded in flight and clears any need to authorise again.

        A portal's first pair also moves the registry's revision (it can now be served).
        """
        ...

    async def seed(
        self,
        portal: str,
        *,
        access_token: SecretStr,
        refresh_token: SecretStr,
        expires_at: datetime | None,
    ) -> TokenRecord:
        """Store this pair only if the portal has none; the stored pair either way.

        For a pair configured in ``SIPLINE_PORTALS``: the first process to start puts it in
        the store, the others (and every later start) keep what the store holds.
        """
        ...

    async def remove(self, portal: str) -> bool: ...

    async def begin_refresh(
        self, portal: str, *, owner: str, fingerprint: str, lease_until: datetime
    ) -> None:
        """Record that ``owner`` is about to spend the refresh token with ``fingerprint``;
        the others wait for it until ``lease_until``."""
        ...

    async def end_refresh(self, portal: str, *, answered: bool) -> None:
        """The refresh ended without a new pair: ``answered`` (the server refused it, the
        token is unspent) forgets it; otherwise it is kept (the token may have been spent)
        but nobody waits for it any longer."""
        ...

    async def require_reauth(self, portal: str, *, reason: ReauthReason, detail: str) -> None:
        """Mark the portal as needing authorising again (ends any refresh in flight);
        the next stored pair (:meth:`put`) clears the mark."""
        ...

    async def needing_reauth(self) -> list[TokenRecord]:
        """Every portal marked as needing authorising again, by domain."""
        ...


class LineRepository(Protocol):
    """The projection of the event log: every line's current state."""

    async def apply(self, change: LineChange) -> bool:
        """Apply one event; False (and nothing changed) when its id was applied before.

        Idempotent by ``change.event_id`` within the same unit of work as the row change,
        so a redelivered event, or one replayed while rebuilding, changes nothing.
        A verdict's ``verdict_since`` moves only when the verdict differs from the last.
        """
        ...

    async def apply_many(self, changes: Sequence[LineChange]) -> int:
        """Apply events in order, as :meth:`apply` one by one would, in a few statements
        (the projector's batches); returns how many changed a row."""
        ...

    def read(
        self,
        where: LineFilter,
        *,
        order: Sequence[str | None],
        after: LineKey | None = None,
        limit: int | None = None,
        first_with: Collection[str] = (),
        batch: int = 1000,
    ) -> AsyncGenerator[list[LineRecord], None]:
        """The lines ``where`` selects, in batches of up to ``batch``, filtered and ordered
        by the store, never all held at once: by portal, then their verdict's place in
        ``order`` (None: unchecked; a verdict not in it comes last), then config id.
        A reader that may stop early closes it (``contextlib.aclosing``) within its unit
        of work: left to the garbage collector, its cursor is closed after its connection.

        ``after``: only the lines past that key (keyset paging); ``limit``: at most that
        many; ``first_with``: the portals that have a live line whose verdict is one of
        these come before the others (for a whole listing; not with ``after``).
        """
        ...

    async def get(self, portal: str, config_id: int) -> LineRecord | None: ...

    async def by_reg_ids(self, reg_ids: Sequence[int]) -> list[LineRecord]:
        """The live (not deleted) lines whose Voximplant registration is one of
        ``reg_ids``, ordered by portal and config id (a Voximplant callback names only
        the registration)."""
        ...

    async def list(
        self,
        *,
        portal: str | None = None,
        verdicts: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> list[LineRecord]:
        """Lines ordered by portal and config id, filtered as asked."""
        ...

    async def counts(
        self, *, after: str | None = None, through: str | None = None
    ) -> dict[tuple[str, str | None], int]:
        """(portal, verdict) → number of live lines; verdict None for unchecked lines.
        ``after`` and ``through``: only the portals past the one and up to the other."""
        ...

    async def portals(self, *, after: str | None = None, limit: int) -> Sequence[str]:
        """Up to ``limit`` portals with live lines past ``after``, by domain."""
        ...

    async def clear(self) -> None:
        """Forget every line, applied event id, stream position and the last sweep (before
        a rebuild from the first offset)."""
        ...

    async def position(self, stream: str) -> int | None:
        """The offset of event-log ``stream`` applied up to (None: nothing applied yet)."""
        ...

    async def advance(self, stream: str, offset: int) -> None:
        """Record ``offset`` of ``stream`` as applied, in the unit of work that applied its
        rows. Never moves back: a projector that lags another leaves the position as it is.
        """
        ...

    async def note_sweep(self, portal: str, at: datetime) -> None:
        """A portal was swept at ``at``; only a later sweep replaces the one kept."""
        ...

    async def last_sweep(self) -> tuple[str, datetime] | None:
        """(portal, time) of the latest sweep the event log reported, or None."""
        ...


class CreateCommandRepository(Protocol):
    """Which line a ``line.create`` command made, by its command id."""

    async def record(self, command_id: str, *, portal: str, config_id: int) -> bool:
        """Remember the line; False when the command id was recorded before (kept as is)."""
        ...

    async def record_many(self, records: Sequence[tuple[str, str, int]]) -> int:
        """:meth:`record` for many (command_id, portal, config_id) at once; the first of
        each command id counts. Returns how many were new."""
        ...

    async def find(self, command_id: str) -> tuple[str, int] | None:
        """(portal, config_id) the command created, or None."""
        ...


class CallbackRepository(Protocol):
    """De-duplication of inbound callbacks (Voximplant account id + callback id)."""

    async def remember(self, account_id: int, callback_id: str) -> bool:
        """True the first time this pair is seen, False for a repeat."""
        ...

    async def seen(self, account_id: int, callback_ids: Sequence[str]) -> set[str]:
        """Which of ``callback_ids`` of the account were remembered before."""
        ...

    async def note_portal(self, portal: str, at: datetime) -> None:
        """A callback named a line of ``portal`` at ``at``; only a later time replaces the
        one kept."""
        ...

    async def last_by_portal(
        self, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, datetime]:
        """Portal → the time of the last callback that named one of its lines (for the
        status page; portals no callback named are absent); the first ``limit`` portals
        past ``after`` by domain when given (keyset paging of ``GET /v1/portals``)."""
        ...


class RepairRepository(Protocol):
    """Each line's recent repairs and the repair awaiting its re-check."""

    async def lock(self, portal: str, config_id: int) -> RepairRecord:
        """The line's ledger (empty when it has none), locked until the unit of work ends:
        ``SELECT … FOR UPDATE`` on PostgreSQL, the write lock on SQLite. Two processes
        spending one line's budget at once thus take turns."""
        ...

    async def put(self, record: RepairRecord) -> None:
        """Store the line's ledger (insert or replace)."""
        ...

    async def notes(self, portal: str, config_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The notes these lines hold (lines without one are left out)."""
        ...

    async def clear_notes(self, portal: str, config_ids: Sequence[int]) -> None:
        """Forget these lines' notes; their histories stay."""
        ...


class ScheduleRepository(Protocol):
    """The sweep schedule (worker/schedule): per portal, which tick is expected and when.

    Every change is a compare-and-set on the generation, so however many processes arm,
    fire or stop a portal's tick at once, exactly one of them wins.
    """

    async def get(self, portal: str) -> TickRecord | None: ...

    async def all(self) -> list[TickRecord]:
        """Every portal's schedule, ordered by portal."""
        ...

    async def overdue(self, before: datetime) -> list[TickRecord]:
        """Scheduled portals whose tick was due before ``before`` (an index lookup)."""
        ...

    async def arm(
        self, portal: str, *, expected: int | None, due_at: datetime, interval: float
    ) -> TickRecord | None:
        """Expect a new tick (generation + 1, or 1 for a portal without a row when
        ``expected`` is None) due at ``due_at``; None when ``expected`` is no longer the
        stored generation (another process won)."""
        ...

    async def fire(
        self, portal: str, *, expected: int, due_at: datetime, interval: float, fired_at: datetime
    ) -> TickRecord | None:
        """The expected tick fired: as :meth:`arm`, also noting ``fired_at``; None when the
        tick was not (or no longer) the expected one."""
        ...

    async def fire_many(
        self, firings: Sequence[Firing], *, fired_at: datetime
    ) -> set[tuple[str, int]]:
        """:meth:`fire` for many ticks in one statement (the tick handler's batch): the
        ``(portal, expected)`` pairs that were the expected tick and fired (each moved to
        ``expected + 1``); a pair named twice fires once, and of two generations of one
        portal at most the stored one."""
        ...

    async def cadences(self) -> list[Cadence]:
        """Every registered portal's sweep interval and whether it can be served now,
        read without decrypting anything (the schedule's view of the registry)."""
        ...

    async def stop(self, portal: str, *, expected: int) -> bool:
        """Expect no tick (generation + 1, no due time); False when another process won."""
        ...

    async def note_swept(self, portal: str, at: datetime) -> None:
        """A sweep of ``portal`` was reported at ``at``; only a later one replaces it."""
        ...

    async def swept(
        self, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, datetime]:
        """portal → the time of its last reported sweep (portals never swept are absent);
        the first ``limit`` portals past ``after`` by domain when given."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; nothing is kept unless ``commit`` runs."""

    @property
    def portals(self) -> PortalRepository: ...

    @property
    def tokens(self) -> TokenRepository: ...

    @property
    def lines(self) -> LineRepository: ...

    @property
    def creates(self) -> CreateCommandRepository: ...

    @property
    def callbacks(self) -> CallbackRepository: ...

    @property
    def repairs(self) -> RepairRepository: ...

    @property
    def schedule(self) -> ScheduleRepository: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    """An open store: hands out units of work; closed once by its owner."""

    def unit_of_work(self, *, readonly: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """A new transaction; rolled back on exit unless committed, and on any error."""
        ...

    async def close(self) -> None: ...
