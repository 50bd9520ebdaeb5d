"""The runtime's own cost: CPU per command and commands per second, sipline against a bare
aio-pika loop on the project's topology.

Both sides do the same essential work per command: take a delivery, validate it with the
contract model, build one ``line.reconciled`` event, publish it with confirms and
``mandatory`` to the events exchange, then ack. The bare loop (the floor) does nothing else;
sipline adds its envelope checks, header checks, per-line ordering lock, handler dispatch,
failure policy and outcome bookkeeping. Each run gets a fresh topology; the commands are
published (with confirms) before the consumer starts, so only consumption is timed, and only
its steady stretch: the clock starts when the first tenth of the run's commands has been
acked (the consumer's start, its first burst of ``prefetch`` deliveries and cold caches are
left out) and stops when the last is acked, on both sides alike. CPU is this process's CPU
time over the same stretch (the broker's is not counted).

Runs are interleaved in pairs, bare and sipline back to back (the order flips every round,
and every round visits every prefetch), so a pair sees the same machine load; the verdict is
the median of the per-pair ratios. The table shows beside it a distribution-free confidence
interval of that median (order statistics of the pairs, no assumption about the noise's
shape) and the full spread (min–max); a goal whose interval lies on one side of it is
settled by the run, one whose interval straddles it is not, whichever way the median fell.
Goals: sipline uses at most 1.15× the floor's CPU per command and reaches at least 0.90 of
its throughput, at every prefetch. Every command names its own line, so the ordering locks
never make one command wait for another: what is measured is overhead, not serialisation.

Prefetch 1 is bound by the round trip (one command in flight: deliver, confirm, ack) and runs
five to eight times slower than the others, so its runs carry fewer commands
(``--serial-commands``) and last about as long as theirs. The defaults (5,000 commands per
run, 1,500 at prefetch 1, 15 pairs) take about three and a half minutes on a quiet machine
(214 s at load average 0.3; 7 pairs, ``--rounds 7``, took 313 s at load average 3).

    .venv/bin/python -m benchmarks.runtime_throughput [--commands N] [--serial-commands N]
                                                      [--prefetch 1,16,64,256] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from contracts import (
    CONTENT_TYPE,
    Bitrix24Side,
    LineReconcile,
    LineReconciled,
    LineReconciledData,
    Verdict,
    VoximplantSide,
    dataschema_uri,
)
from worker.adapters.amqp.topology import TopologySpec, declare, delete_all
from worker.runtime.handler import CommandContext, EventDraft, Outcome
from worker.runtime.wiring import build_worker, topology_spec
from worker.settings import Settings

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CPU_GOAL = 1.15  # sipline's CPU per command, at most this many times the floor's
RATE_GOAL = 0.90  # sipline's throughput, at least this fraction of the floor's
PORTAL = "example.bitrix24.ru"
_NAMESPACE = uuid.UUID("0b7c51a4-2f0e-4d8e-9a51-3c1f6b0d9e77")


@dataclass
class Clock:
    """Counts acked commands; times the stretch from the ``skip``-th to the ``n``-th."""

    n: int
    skip: int = 0
    count: int = 0
    started: float | None = None
    finished: float | None = None
    cpu_started: float = 0.0
    cpu_finished: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not 0 <= self.skip < self.n:
            raise ValueError(f"skip must be in [0, {self.n}), not {self.skip}")
        if self.skip == 0:  # nothing left out: the clock runs from the start of the run
            self._start()

    @classmethod
    def steady(cls, n: int) -> Clock:
        """A clock that leaves the first tenth of ``n`` commands out (the run's start-up)."""
        return cls(n, skip=max(1, n // 10))

    @property
    def timed(self) -> int:
        """How many commands the clock times."""
        return self.n - self.skip

    def _start(self) -> None:
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.skip:
            self._start()
        if self.count == self.n:
            self.finished = time.perf_counter()
            self.cpu_finished = time.process_time()
            self.done.set()

    def rate(self) -> float:
        assert self.started is not None
        assert self.finished is not None
        return self.timed / (self.finished - self.started)

    def cpu_us(self) -> float:
        """This process's CPU time per command, in microseconds (less noisy than wall time)."""
        return (self.cpu_finished - self.cpu_started) / self.timed * 1e6


def reconciled(config_id: int) -> LineReconciledData:
    """The one event's data, identical on both sides."""
    return LineReconciledData(
        config_id=config_id,
        verdict=Verdict.IN_SYNC,
        bitrix24=Bitrix24Side(status_result="success"),
        voximplant=VoximplantSide(found=True, successful=True),
        attempts=1,
    )


def settings_for(prefix: str, prefetch: int, url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        amqp_url=url,  # type: ignore[arg-type]
        topology_prefix=prefix,
        prefetch=prefetch,
        metrics_port=None,
        retry_delays=[1.0],
        settle_intervals=[1.0],
        events_max_age="1h",
        events_max_bytes=200_000_000,
        shutdown_grace=10.0,
        reconnect_timeout=10.0,
    )


async def prepublish(channel: aio_pika.abc.AbstractChannel, spec: TopologySpec, n: int) -> None:
    """Publish ``n`` valid ``line.reconcile`` commands, each for its own line, confirmed."""
    exchange = await channel.get_exchange(spec.names.commands_exchange, ensure=False)
    batch = 500
    for first in range(0, n, batch):
        publishes = []
        for i in range(first, min(first + batch, n)):
            command = LineReconcile(
                id=uuid.uuid4().hex,
                type="line.reconcile",
                source="urn:bench",
                portal=PORTAL,
                correlationid=f"bench-{i}",
                data={"config_id": i + 1},  # type: ignore[arg-type]
            )
            message = aio_pika.Message(
                command.wire_json(),
                content_type=CONTENT_TYPE,
                message_id=command.id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            publishes.append(exchange.publish(message, routing_key="line.reconcile"))
        await asyncio.gather(*publishes)


# --- the floor: plain aio-pika --------------------------------------------------------------


def bare_event(command: LineReconcile) -> aio_pika.Message:
    """The same event, with the same AMQP properties, built by hand."""
    now = datetime.now(UTC)
    subject = f"lines/{command.data.config_id}"
    event = LineReconciled(
        id=str(uuid.uuid5(_NAMESPACE, f"{command.id}/line.reconciled/{subject}/0")),
        type="line.reconciled",
        source="urn:sipline:worker",
        time=now,
        subject=subject,
        dataschema=dataschema_uri("line.reconciled", 1),
        correlationid=command.correlationid or command.id,
        causationid=command.id,
        portal=command.portal,
        data=reconciled(command.data.config_id),
    )
    return aio_pika.Message(
        event.wire_json(),
        content_type=CONTENT_TYPE,
        message_id=event.id,
        correlation_id=event.correlationid,
        type=event.type,
        timestamp=now,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        app_id="sipline",
        headers={},
    )


async def run_bare(spec: TopologySpec, prefetch: int, clock: Clock, url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        events = await publish_channel.get_exchange(spec.names.events_exchange, ensure=False)
        consume_channel = await connection.channel(publisher_confirms=False)
        await consume_channel.set_qos(prefetch_count=prefetch)
        queue = await consume_channel.get_queue(spec.names.commands_queue, ensure=False)

        failures: list[BaseException] = []

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                command = LineReconcile.model_validate_json(message.body)
                event = bare_event(command)
                await events.publish(event, routing_key="line.reconciled", mandatory=True)
                await message.ack()
            except Exception as exc:  # an unroutable or unconfirmed event: stop, loudly
                failures.append(exc)
                clock.done.set()
                raise
            clock.tick()

        tag = await queue.consume(on_message)
        await clock.done.wait()
        await queue.cancel(tag)
        if failures:
            raise RuntimeError("bare loop failed") from failures[0]


# --- sipline ----------------------------------------------------------------------------------


class Noop:
    """A handler that does no work: one event per command."""

    async def __call__(self, command: Any, context: CommandContext) -> Outcome:
        config_id = command.data.config_id
        return Outcome(events=[EventDraft(reconciled(config_id), subject=f"lines/{config_id}")])


@dataclass
class Counter:
    """Observer: ticks the clock for each delivery, which is acked by then."""

    clock: Clock
    outcomes: dict[str, int] = field(default_factory=dict)

    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.clock.tick()

    def published(self, event_type: str, verdict: str | None) -> None:
        return None

    def dead_lettered(self, reason: str) -> None:
        return None


async def run_sipline(settings: Settings, clock: Clock) -> None:
    counter = Counter(clock)
    worker = build_worker(settings, handlers={"line.reconcile": Noop()}, observer=counter)
    task = asyncio.create_task(worker.run())
    finished = asyncio.create_task(clock.done.wait())
    await asyncio.wait({task, finished}, return_when=asyncio.FIRST_COMPLETED)
    worker.stop()
    await task
    finished.cancel()
    if counter.outcomes != {"ok": clock.n}:
        raise RuntimeError(f"unexpected outcomes: {counter.outcomes}")


# --- the harness ------------------------------------------------------------------------------


async def one_run(
    side: str, prefetch: int, n: int, url: str, *, clock: Clock | None = None
) -> Clock:
    """A fresh topology, ``n`` commands queued, consumed by one side; returns its clock (a
    :meth:`Clock.steady` one unless given)."""
    settings = settings_for(f"bench-{side}-{uuid.uuid4().hex[:10]}", prefetch, url)
    spec = topology_spec(settings)
    clock = clock or Clock.steady(n)
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, spec)
        try:
            await prepublish(channel, spec, n)
            # Start both sides from the same collector state: what the previous run and the
            # prepublish left behind is collected here, not inside the next timed window.
            gc.collect()
            if side == "bare":
                await asyncio.wait_for(run_bare(spec, prefetch, clock, url), timeout=300)
            else:
                await asyncio.wait_for(run_sipline(settings, clock), timeout=300)
            left = await channel.declare_queue(spec.names.commands_queue, passive=True)
            if left.declaration_result.message_count:
                raise RuntimeError(f"{side}: commands left in the queue")
        finally:
            await delete_all(await connection.channel(), spec)
    return clock


CONFIDENCE = 0.80  # the least coverage of the median's interval


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """A distribution-free confidence interval of the median: the ``j``-th smallest and the
    ``j``-th largest value, ``j`` as large as keeps the coverage at least ``CONFIDENCE``
    (the median lies below the ``j``-th smallest only if fewer than ``j`` values do, a
    binomial(n, ½) tail). Returns (low, high, coverage); 7 pairs give the 2nd and 6th values,
    88 %, 15 pairs the 5th and 11th, 88 %."""
    ordered, n = sorted(values), len(values)
    tails = [math.comb(n, i) / 2**n for i in range(n + 1)]
    j, coverage = 1, 1.0 - 2 * tails[0]
    while j + 1 <= (n + 1) // 2:
        wider = 1.0 - 2 * sum(tails[: j + 1])
        if wider < CONFIDENCE:
            break
        j, coverage = j + 1, wider
    return ordered[j - 1], ordered[n - j], coverage


@dataclass
class Row:
    """One prefetch's runs; ``clocks[side]`` holds one clock per round, pairs by index."""

    prefetch: int
    clocks: dict[str, list[Clock]] = field(default_factory=lambda: {"bare": [], "sipline": []})

    def rate(self, side: str) -> float:
        return statistics.median(c.rate() for c in self.clocks[side])

    def cpu_us(self, side: str) -> float:
        return statistics.median(c.cpu_us() for c in self.clocks[side])

    def _pairs(self) -> list[tuple[Clock, Clock]]:
        return list(zip(self.clocks["sipline"], self.clocks["bare"], strict=True))

    def rate_ratios(self) -> list[float]:
        """sipline / floor throughput, one per pair (each pair ran back to back)."""
        return [s.rate() / b.rate() for s, b in self._pairs()]

    def cpu_ratios(self) -> list[float]:
        """sipline / floor CPU per command, one per pair."""
        return [s.cpu_us() / b.cpu_us() for s, b in self._pairs()]


def _cell(ratios: list[float]) -> str:
    """A ratio's cell: the median, its interval [low–high] and the spread (min–max)."""
    low, high, _ = median_interval(ratios)
    return (
        f"{statistics.median(ratios):.2f} [{low:.2f}–{high:.2f}] "
        f"({min(ratios):.2f}–{max(ratios):.2f})"
    )


def _verdict(ratios: list[float], meets: Callable[[float], bool]) -> str:
    """``yes``/``**no**`` by the median; ``?`` when the interval straddles the goal."""
    low, high, _ = median_interval(ratios)
    verdict = "yes" if meets(statistics.median(ratios)) else "**no**"
    return verdict if meets(low) == meets(high) else f"{verdict} ?"


def commands_for(prefetch: int, n: int, serial: int) -> int:
    return serial if prefetch == 1 else n


async def benchmark(n: int, serial: int, prefetches: list[int], rounds: int, url: str) -> list[Row]:
    for side in ("bare", "sipline"):  # warm-up: imports, pydantic, the broker's caches
        await one_run(side, 16, min(n, 500), url)
    rows = {prefetch: Row(prefetch) for prefetch in prefetches}
    for r in range(rounds):  # every round visits every prefetch: load drifts hit them all
        for prefetch in prefetches:
            order = ("bare", "sipline") if r % 2 == 0 else ("sipline", "bare")
            for side in order:
                clock = await one_run(side, prefetch, commands_for(prefetch, n, serial), url)
                rows[prefetch].clocks[side].append(clock)
                print(
                    f"  round {r + 1} prefetch {prefetch:>3} {side:<7} "
                    f"{clock.rate():6.0f} cmds/s {clock.cpu_us():5.0f} µs CPU/cmd",
                    flush=True,
                )
    return list(rows.values())


def table(rows: list[Row]) -> str:
    lines = [
        "| prefetch | CPU µs/cmd bare | CPU µs/cmd sipline | CPU ratio [interval] (spread) "
        f"| ≤ {CPU_GOAL:.2f} | cmds/s bare | cmds/s sipline "
        f"| throughput ratio [interval] (spread) | ≥ {RATE_GOAL:.2f} |",
        "|---:|---:|---:|---:|:---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        cpu, rate = row.cpu_ratios(), row.rate_ratios()
        lines.append(
            f"| {row.prefetch} | {row.cpu_us('bare'):.0f} | {row.cpu_us('sipline'):.0f} "
            f"| {_cell(cpu)} | {_verdict(cpu, lambda x: x <= CPU_GOAL)} "
            f"| {row.rate('bare'):.0f} | {row.rate('sipline'):.0f} "
            f"| {_cell(rate)} | {_verdict(rate, lambda x: x >= RATE_GOAL)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=5000, help="commands per run")
    parser.add_argument(
        "--serial-commands", type=int, default=1500, help="commands per run at prefetch 1"
    )
    parser.add_argument("--prefetch", default="1,16,64,256", help="comma-separated prefetches")
    parser.add_argument("--rounds", type=int, default=15, help="pairs of runs per prefetch")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    prefetches = [int(p) for p in args.prefetch.split(",") if p.strip()]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows = asyncio.run(
        benchmark(args.commands, args.serial_commands, prefetches, args.rounds, args.amqp_url)
    )
    coverage = median_interval([0.0] * args.rounds)[2]
    print()
    print(
        f"{args.commands} commands per run ({args.serial_commands} at prefetch 1), the first "
        f"tenth of each left out; {args.rounds} interleaved pairs per prefetch. Ratios: the "
        f"median of the per-pair ratios [its {coverage:.0%} confidence interval] (min–max); "
        "'?': the interval straddles the goal, so this run does not settle it:"
    )
    print(table(rows))
    print(
        f"\ntook {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
