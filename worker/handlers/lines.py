"""The line handlers: ``line.create``, ``line.update``, ``line.delete``, ``line.reconcile``.

Each is idempotent, because at-least-once delivery will sometimes run a command twice:
a create finds the line it already made (by its command id when the worker has a store,
so also after a rename; else by title), a delete of an absent line succeeds, an update
sets the same values again.
"""

from __future__ import annotations

import logging

from contracts import (
    LineCreate,
    LineCreateData,
    LineCreatedData,
    LineDelete,
    LineDeletedData,
    LineReconcile,
    LineUpdate,
    LineUpdatedData,
)
from worker.domain.drift import normalise_host, normalise_login
from worker.domain.errors import ConnectorUnpaid, LineNotFound, TitleTaken
from worker.domain.model import Line
from worker.domain.settle import SettleState
from worker.errors import TransientError
from worker.handlers.checking import LineChecker, PassResult, subject
from worker.handlers.ports import CreatedLines, PortalLines, Portals, Registrations
from worker.runtime.handler import CommandContext, EventDraft, Outcome

log = logging.getLogger(__name__)

REREGISTERING_FIELDS = frozenset({"server", "login", "password"})


def _outcome(events: list[EventDraft], result: PassResult) -> Outcome:
    events = [*events, *result.events]
    return Outcome(events=events, follow_ups=[result.follow_up] if result.follow_up else [])


async def _require_line(portal: PortalLines, config_id: int, portal_name: str) -> Line:
    line = await portal.find_line(config_id)
    if line is None:
        raise LineNotFound(f"line {config_id} does not exist on {portal_name}")
    return line


def _same_account(line: Line, server: str, login: str) -> bool:
    """Whether ``line`` registers the same SIP account (its title may then be reused)."""
    return normalise_host(line.server or "") == normalise_host(server) and normalise_login(
        line.login or ""
    ) == normalise_login(login)


def _as_it_is(line: Line, data: LineCreateData) -> LineCreatedData:
    """A line an earlier delivery of the create made, as Bitrix24 has it now (renamed or
    moved since, perhaps): what the projection and a reader should take from the event."""
    return LineCreatedData(
        config_id=line.config_id,
        reg_id=line.reg_id,
        title=line.title or data.title,
        server=line.server or data.server,
        login=line.login or data.login,
        line_type=line.line_type,
        already_existed=True,
    )


class CreateLine:
    """Create a line unless this command made it already or an identical one exists; then
    cross-check its registration.

    ``created``: the store's record of which line each create made. A redelivered create
    whose line was renamed since is then found by its command id (and reported with the
    line's current title); without it, or when the store cannot answer, a create is
    idempotent by title alone.
    """

    def __init__(
        self, *, portals: Portals, checker: LineChecker, created: CreatedLines | None = None
    ) -> None:
        self._portals = portals
        self._checker = checker
        self._created = created

    async def __call__(self, command: LineCreate, context: CommandContext) -> Outcome:
        portal = self._portals.get(command.portal)
        data = command.data
        connector = await portal.connector()
        if not connector.usable:
            raise ConnectorUnpaid(
                f"the SIP connector of {command.portal} is unpaid and has no free minutes"
            )
        made = await self._made_before(portal, command)
        if made is not None:
            line, created = made, _as_it_is(made, data)
        else:
            line, already = await self._create_or_find(portal, command)
            created = LineCreatedData(
                config_id=line.config_id,
                reg_id=line.reg_id,
                title=data.title,
                server=data.server,
                login=data.login,
                line_type=data.line_type,
                already_existed=already,
            )
        started = SettleState.start(self._checker.now())
        result = await self._checker.run_pass(command, portal, line, started)
        return _outcome([EventDraft(created, subject=subject(line.config_id))], result)

    async def _made_before(self, portal: PortalLines, command: LineCreate) -> Line | None:
        """The line this very command made before (a redelivery), if it still exists."""
        if self._created is None:
            return None
        try:
            made = await self._created.made_by(command.id)
        except TransientError as exc:
            log.warning(
                "create lookup by command id unavailable; finding the line by title",
                extra={"command_id": command.id, "error": type(exc).__name__},
            )
            return None
        if made is None or made[0] != command.portal.lower():
            return None
        return await portal.find_line(made[1])

    async def _create_or_find(self, portal: PortalLines, command: LineCreate) -> tuple[Line, bool]:
        data = command.data
        existing = await portal.find_by_title(data.title)
        if existing is None:
            try:
                line = await portal.add_line(
                    title=data.title,
                    server=data.server,
                    login=data.login,
                    password=data.password,
                    line_type=data.line_type,
                )
            except TitleTaken:
                # Made by a concurrent or earlier delivery between the lookup and the add.
                existing = await portal.find_by_title(data.title)
                if existing is None:
                    raise
            else:
                return line, False
        if not _same_account(existing, data.server, data.login):
            raise TitleTaken(
                f"title {data.title!r} is taken by line {existing.config_id} "
                "with another server or login"
            )
        return existing, True


class UpdateLine:
    """Apply changes; a new server, login or password re-registers, so cross-check again."""

    def __init__(self, *, portals: Portals, checker: LineChecker) -> None:
        self._portals = portals
        self._checker = checker

    async def __call__(self, command: LineUpdate, context: CommandContext) -> Outcome:
        portal = self._portals.get(command.portal)
        data = command.data
        await portal.update_line(
            data.config_id,
            title=data.title,
            server=data.server,
            login=data.login,
            password=data.password,
        )
        changed = data.changed_fields()
        rereg = bool(REREGISTERING_FIELDS.intersection(changed))
        updated = LineUpdatedData(
            config_id=data.config_id,
            changed_fields=changed,
            reregistration=rereg,
            title=data.title,
        )
        events = [EventDraft(updated, subject=subject(data.config_id))]
        if not rereg:
            return Outcome(events=events)
        line = await _require_line(portal, data.config_id, command.portal)
        started = SettleState.start(self._checker.now())
        return _outcome(events, await self._checker.run_pass(command, portal, line, started))


class DeleteLine:
    """Delete a line (absent is fine) and confirm Voximplant no longer registers it."""

    def __init__(self, *, portals: Portals, registrations: Registrations) -> None:
        self._portals = portals
        self._registrations = registrations

    async def __call__(self, command: LineDelete, context: CommandContext) -> Outcome:
        portal = self._portals.get(command.portal)
        config_id = command.data.config_id
        line = await portal.find_line(config_id)
        deleted = False
        if line is not None:
            deleted = await portal.delete_line(config_id)
        removed = True
        if line is not None and line.registers_at_voximplant and line.reg_id is not None:
            registration = await self._registrations.registration(line.reg_id)
            removed = registration is None or bool(registration.deactivated)
        data = LineDeletedData(
            config_id=config_id, already_absent=not deleted, registration_removed=removed
        )
        return Outcome(events=[EventDraft(data, subject=subject(config_id))])


class ReconcileLine:
    """Cross-check one line; continues a settle loop when the command is a deferred re-check."""

    def __init__(self, *, portals: Portals, checker: LineChecker) -> None:
        self._portals = portals
        self._checker = checker

    async def __call__(self, command: LineReconcile, context: CommandContext) -> Outcome:
        portal = self._portals.get(command.portal)
        line = await _require_line(portal, command.data.config_id, command.portal)
        settle = SettleState.resume(context.settle, now=self._checker.now())
        return _outcome([], await self._checker.run_pass(command, portal, line, settle))
