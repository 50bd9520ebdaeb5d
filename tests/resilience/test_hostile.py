"""Scenario 4: malformed and hostile messages mixed with valid traffic.

Every bad message is dead-lettered once, byte for byte, with the reason the parser gives
(``x-sipline-reason``) and a ``command.rejected`` event; every valid one is processed; the
worker process is the same one, still running, at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import pytest

from tests.resilience.commands import quiet, reconcile
from tests.resilience.conftest import Run
from tests.resilience.corpus import Hostile, corpus
from tests.resilience.processes import until


def _requeued(run: Run) -> int:
    count = 0
    for path in run.worker.log_files:
        for line in path.read_text(errors="replace").splitlines():
            if '"outcome": "requeued"' in line or "outcome not confirmed" in line:
                count += 1
    return count


async def _publish(run: Run, messages: list[Hostile | dict[str, Any]], window: int = 200) -> None:
    async def one(item: Hostile | dict[str, Any]) -> None:
        if isinstance(item, dict):
            await run.tap.publish_json(item)
        else:
            await run.tap.publish(
                item.body,
                routing_key=item.routing_key,
                content_type=item.content_type,
                message_id=item.message_id,
                headers=item.headers,
            )

    for start in range(0, len(messages), window):
        await asyncio.gather(*(one(m) for m in messages[start : start + window]))


async def _hostile(
    make_run: Any, figures: dict[str, Any], *, count: int, valid: int, limit: float
) -> None:
    generated = time.monotonic()
    messages = corpus(count)
    generated = time.monotonic() - generated
    bad = [m for m in messages if m.verdict() is not None]
    accidental = [m for m in messages if m.verdict() is None]
    async with make_run("hostile", lines=20) as run:
        run: Run  # type: ignore[no-redef]
        good = [reconcile(run.sandbox.config_ids[n % 20], tag="h") for n in range(valid)]
        stride = max(1, len(messages) // max(1, valid))
        mixed: list[Hostile | dict[str, Any]] = []
        for n, message in enumerate(messages):
            if n % stride == 0 and n // stride < len(good):
                mixed.append(good[n // stride])
            mixed.append(message)
        mixed += good[len(messages) // stride + 1 :]
        run.worker.start()
        await run.worker.ready(run.session)
        pid = run.worker.pid
        started = time.monotonic()
        await _publish(run, mixed)
        ledger = run.tap.ledger
        good_ids = [c["id"] for c in good]
        accidental_ids = {i for m in accidental if (i := m.body_id())}

        def finished() -> bool:
            return (
                len(ledger.dead) >= len(bad)
                and ledger.completed(good_ids) == len(good_ids)
                and ledger.completed(accidental_ids) == len(accidental_ids)
            )

        try:
            await until(finished, limit=limit, what="every dead letter and outcome", every=0.5)
        except AssertionError:
            terminal = ledger.terminal_ids()
            lost = [m for m in accidental if m.body_id() not in terminal]
            dead = Counter(d.body for d in ledger.dead)
            want = Counter(m.body for m in bad)
            missing = [m for m in bad if m.body in (want - dead)][:4]
            raise AssertionError(
                "not dead-lettered: "
                f"{[(m.body[:150], m.content_type, m.headers, m.verdict()) for m in missing]!r}; "
                f"dead letters {len(ledger.dead)}/{len(bad)}; valid done "
                f"{ledger.completed(good_ids)}/{len(good_ids)}; accidental without outcome: "
                f"{[(m.body[:120], m.headers, m.content_type) for m in lost[:3]]!r}"
            ) from None
        elapsed = time.monotonic() - started
        await quiet(run.tap, limit=60)

        expected = Counter((m.body, m.verdict()) for m in bad)
        got = Counter((d.body, _text(d.headers.get("x-sipline-reason"))) for d in ledger.dead)
        rejected = [e for e in ledger.events if e["type"] == "command.rejected"]
        reasons = Counter(str(m.verdict()) for m in bad)
        tally = ledger.tally(good_ids)
        scanned = run.scan()
        figures.update(
            {
                "messages in": len(mixed),
                "hostile": len(messages),
                "hostile that parse as valid commands": len(accidental),
                "valid commands": len(good),
                "dead letters": len(ledger.dead),
                "command.rejected events": len(rejected),
                "rejections by reason": dict(reasons.most_common()),
                "valid commands with an outcome": tally.with_outcome,
                "requeued deliveries": _requeued(run),
                "worker starts": run.worker.starts,
                "corpus generation seconds": round(generated, 1),
                "seconds": round(elapsed, 1),
                **scanned.figures(),
            }
        )
        assert run.worker.running()
        assert run.worker.pid == pid
        assert run.worker.starts == 1
        assert got == expected, _diff(expected, got)
        assert all(d.headers.get("x-sipline-reason") for d in ledger.dead)
        assert len(rejected) == len(bad)
        assert tally.missing == []
        assert figures["requeued deliveries"] == 0
        assert scanned.leaks == []


def _text(value: Any) -> str:
    return bytes(value).decode() if isinstance(value, bytes | bytearray) else str(value)


def _diff(expected: Counter[Any], got: Counter[Any]) -> str:
    missing = list((expected - got).items())[:3]
    extra = list((got - expected).items())[:3]
    show = [(body[:80], reason, n) for (body, reason), n in missing]
    more = [(body[:80], reason, n) for (body, reason), n in extra]
    return json.dumps({"missing": repr(show), "unexpected": repr(more)})


async def test_hostile_messages_are_dead_lettered_short(
    make_run: Any, figures: dict[str, Any]
) -> None:
    await _hostile(make_run, figures, count=500, valid=50, limit=40)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_hostile_messages_are_dead_lettered(make_run: Any, figures: dict[str, Any]) -> None:
    await _hostile(make_run, figures, count=10_000, valid=1_000, limit=120)
