"""From verified callbacks to confirmed ``line.reconcile`` commands, then the record.

The order is what makes a lost answer harmless: commands are published (and confirmed)
before the callback ids are recorded, and the ids are recorded before the caller answers
200. A crash in between makes Voximplant send the callback again; it is then published
again under the *same* command ids (derived from account, callback and line), which the
runtime treats as a redelivery. A callback whose id is already recorded was handled: it is
counted as ``replayed`` and publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import SecretStr

from contracts import Command, LineReconcile
from worker.callbacks import signature
from worker.callbacks.commands import reconcile_command
from worker.callbacks.model import AccountCallback, RegistrationItem
from worker.callbacks.result import IntakeResult, Reconcile
from worker.errors import SiplineError, TransientError
from worker.store import LineRecord, Store

log = logging.getLogger(__name__)

MAX_CONCURRENT_PUBLISHES = 64  # confirms awaited at once for one request


class CommandSink(Protocol):
    """Where commands go: the commands exchange, each publish confirmed by the broker."""

    async def publish(self, command: Command) -> None: ...


class IntakeObserver(Protocol):
    """What the metrics count; every label value comes from a set the code names."""

    def received(self, callback_type: str) -> None: ...

    def refused(self, reason: str) -> None: ...

    def registration(self, outcome: str) -> None:
        """``reconcile`` (a command was published), ``unknown`` (an orphan) or
        ``unserved`` (a line of a portal this worker does not serve)."""
        ...


class IntakeUnavailable(TransientError):
    """The store or the broker failed: answer 503, Voximplant sends the callbacks again."""

    code = "CALLBACKS_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class CallbackSecrets:
    """The account's callback secrets and, when known, its id (others are refused)."""

    salt: SecretStr
    api_key: SecretStr
    account_id: int | None = None

    def __repr__(self) -> str:
        return f"CallbackSecrets(account_id={self.account_id})"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CallbackIntake:
    """Verifies, de-duplicates and maps callbacks; publishes; records. One per process."""

    def __init__(
        self,
        *,
        store: Store,
        commands: CommandSink,
        secrets: CallbackSecrets,
        observer: IntakeObserver,
        served: Callable[[str], bool] = lambda portal: True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._commands = commands
        self._secrets = secrets
        self._observer = observer
        self._served = served
        self._clock = clock

    async def take(self, callbacks: Sequence[AccountCallback]) -> IntakeResult:
        """Handle one request's callbacks; raises :class:`IntakeUnavailable`."""
        result = IntakeResult()
        genuine = [c for c in callbacks if self._verified(c, result)]
        if not genuine:
            return result
        received_at = self._clock()
        fresh, lines = await self._look_up(genuine, result)
        commands = self._plan(fresh, lines, result)
        await self._publish(commands)
        await self._record(fresh, result, received_at)
        for done in result.reconciles:
            self._observer.registration("reconcile")
            log.info(
                "line.reconcile published for a voximplant callback",
                extra={
                    "command_id": done.command_id,
                    "command_type": "line.reconcile",
                    "portal": done.portal,
                    "line": done.config_id,
                    "reg_id": done.reg_id,
                    "callback_id": done.callback_id,
                },
            )
        return result

    # --- the steps -------------------------------------------------------------------------
    def _verified(self, callback: AccountCallback, result: IntakeResult) -> bool:
        self._observer.received(callback.type)
        secrets = self._secrets
        if secrets.account_id is not None and callback.account_id != secrets.account_id:
            reason = "foreign_account"
        else:
            reason = signature.check(
                callback.hash,
                salt=secrets.salt,
                api_key=secrets.api_key,
                account_id=callback.account_id,
                callback_id=callback.callback_id,
            )
        if reason == "ok":
            return True
        self._refuse(callback, reason, result)
        return False

    def _refuse(self, callback: AccountCallback, reason: str, result: IntakeResult) -> None:
        result.refused[callback.callback_id] = reason
        self._observer.refused(reason)
        log.warning(
            "voximplant callback refused: %s",
            reason,
            extra={
                "callback_id": callback.callback_id,
                "account_id": callback.account_id,
                "callback_type": callback.type,
                "reason": reason,
            },
        )

    async def _look_up(
        self, genuine: list[AccountCallback], result: IntakeResult
    ) -> tuple[list[AccountCallback], list[LineRecord]]:
        """The callbacks not handled before, and the lines their registrations name."""
        by_account: dict[int, list[AccountCallback]] = defaultdict(list)
        for callback in genuine:
            by_account[callback.account_id].append(callback)
        try:
            async with self._store.unit_of_work(readonly=True) as uow:
                seen: set[tuple[int, str]] = set()
                for account, group in by_account.items():
                    keys = await uow.callbacks.seen(account, [c.key for c in group])
                    seen |= {(account, key) for key in keys}
                fresh: list[AccountCallback] = []
                for callback in genuine:
                    if (callback.account_id, callback.key) in seen:
                        result.replayed.append(callback.callback_id)
                        self._observer.refused("replayed")
                        log.info(
                            "voximplant callback already handled",
                            extra={
                                "callback_id": callback.callback_id,
                                "account_id": callback.account_id,
                                "reason": "replayed",
                            },
                        )
                    else:
                        seen.add((callback.account_id, callback.key))  # twice in one request
                        fresh.append(callback)
                reg_ids = sorted({i.sip_registration_id for c in fresh for i in c.registrations()})
                lines = await uow.lines.by_reg_ids(reg_ids)
        except SiplineError as exc:
            raise IntakeUnavailable(f"the store cannot answer now ({exc.code})") from None
        return fresh, lines

    def _plan(
        self, fresh: list[AccountCallback], lines: list[LineRecord], result: IntakeResult
    ) -> list[LineReconcile]:
        by_reg: dict[int, list[LineRecord]] = defaultdict(list)
        for line in lines:
            if line.reg_id is not None:
                by_reg[line.reg_id].append(line)
        commands: list[LineReconcile] = []
        for callback in fresh:
            result.accepted.append(callback.callback_id)
            for item in callback.registrations():
                named = by_reg.get(item.sip_registration_id, [])
                served = [line for line in named if self._served(line.portal)]
                if not served:
                    self._unreconciled(callback, item, named, result)
                for line in served:
                    command = reconcile_command(callback.account_id, callback.callback_id, line)
                    commands.append(command)
                    result.reconciles.append(
                        Reconcile(
                            command_id=command.id,
                            portal=line.portal,
                            config_id=line.config_id,
                            reg_id=item.sip_registration_id,
                            callback_id=callback.callback_id,
                        )
                    )
        return commands

    def _unreconciled(
        self,
        callback: AccountCallback,
        item: RegistrationItem,
        named: list[LineRecord],
        result: IntakeResult,
    ) -> None:
        """A registration no line references (an orphan: ``unknown``), or whose lines
        belong to portals this worker does not serve (``unserved``)."""
        if named:
            outcome, message = "unserved", "a line of a portal this worker does not serve"
            result.unserved.append(item.sip_registration_id)
        else:
            outcome, message = "unknown", "a registration no line references (orphan)"
            result.orphans.append(item.sip_registration_id)
        self._observer.registration(outcome)
        log.warning(
            "voximplant callback names %s",
            message,
            extra={
                "reg_id": item.sip_registration_id,
                "callback_id": callback.callback_id,
                "callback_type": callback.type,
                "sip_status": None if item.status_code is None else str(item.status_code),
                "portal": named[0].portal if named else None,
                "line": named[0].config_id if named else None,
                "outcome": outcome,
            },
        )

    async def _publish(self, commands: list[LineReconcile]) -> None:
        if not commands:
            return
        limit = asyncio.Semaphore(MAX_CONCURRENT_PUBLISHES)

        async def publish(command: LineReconcile) -> None:
            async with limit:
                await self._commands.publish(command)

        outcomes = await asyncio.gather(*map(publish, commands), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        for outcome in failed:
            if not isinstance(outcome, Exception):
                raise outcome  # a cancellation, not a failure to publish
        if failed:
            first = failed[0]
            code = first.code if isinstance(first, SiplineError) else type(first).__name__
            raise IntakeUnavailable(
                f"{len(failed)} of {len(commands)} line.reconcile commands were not "
                f"confirmed by the broker ({code})"
            )

    async def _record(
        self, fresh: list[AccountCallback], result: IntakeResult, received_at: datetime
    ) -> None:
        if not fresh:
            return
        try:
            async with self._store.unit_of_work() as uow:
                for callback in fresh:
                    await uow.callbacks.remember(callback.account_id, callback.key)
                for portal in sorted({done.portal for done in result.reconciles}):
                    await uow.callbacks.note_portal(portal, received_at)
                await uow.commit()
        except SiplineError as exc:
            raise IntakeUnavailable(f"the store cannot record now ({exc.code})") from None
