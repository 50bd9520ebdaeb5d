"""Prometheus metrics.

One :class:`Metrics` per process with its own registry (no global state, so tests can make
as many as they like). It is the runtime's message observer and the upstream clients'
metrics sink; :mod:`worker.http.metrics` serves it as ``GET /metrics``.

Every label value comes from a bounded set: command types the contracts define (anything
else a producer puts in a routing key counts as ``other``), outcomes, verdicts and dead-letter
reasons the code names, upstream method names the adapters call, HTTP status codes and
upstream error codes (shape-checked). Never a command id, a line's config id or a title.
The ``portal`` label of the limiter histogram is bounded by ``SIPLINE_PORTALS``.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from contracts import COMMANDS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OTHER = "other"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$")


def _bounded(value: str | None) -> str:
    """A label value from a source the code controls, shape-checked as a second guard."""
    return value if value and _NAME.match(value) else OTHER


def _command_type(value: str) -> str:
    return value if value in COMMANDS else OTHER


class WorkerState(Protocol):
    @property
    def in_flight(self) -> int: ...

    @property
    def consuming(self) -> bool: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.commands = Counter(
            "sipline_commands",
            "Commands finished, by type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "sipline_command_duration_seconds",
            "Time from delivery to acknowledgement, by command type.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "sipline_events_published", "Events published, by type.", ["type"], registry=r
        )
        self.verdicts = Counter(
            "sipline_verdicts", "Reconciliation verdicts published.", ["verdict"], registry=r
        )
        self.retries = Counter(
            "sipline_retries",
            "Commands sent to a delay tier for another attempt.",
            ["type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "sipline_dead_letters", "Commands dead-lettered, by reason.", ["reason"], registry=r
        )
        self.upstream = Counter(
            "sipline_upstream_requests",
            "HTTP requests to Bitrix24 and Voximplant, by method, HTTP status (none: no "
            "answer) and result code (OK or the error's code).",
            ["upstream", "method", "status", "code"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "sipline_upstream_request_duration_seconds",
            "Upstream request latency.",
            ["upstream", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.limiter_waits = Histogram(
            "sipline_rate_limiter_wait_seconds",
            "Time calls waited for a portal's client-side leaky bucket (waits only).",
            ["upstream", "portal"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.reauthorizations = Counter(
            "sipline_oauth_reauthorizations_required",
            "OAuth portals this process marked as needing authorising again, by reason: "
            "refresh_lost (the pair was lost in flight), refresh_refused (revoked).",
            ["reason"],
            registry=r,
        )
        self.repairs = Counter(
            "sipline_repairs",
            "Line repairs under a portal's repair policy, by outcome: done (in_sync after "
            "the repair), failed (not), exhausted (wanted, but the line's hourly budget "
            "was spent).",
            ["outcome"],
            registry=r,
        )
        self.sweeps_scheduled = Counter(
            "sipline_sweeps_scheduled",
            "portal.sweep commands the sweep schedule published (ticks that fired).",
            registry=r,
        )
        self.sweeps_run = Counter(
            "sipline_sweeps_run",
            "Sweeps that ran to the end, by trigger (schedule or command).",
            ["trigger"],
            registry=r,
        )
        self.sweeps_late = Counter(
            "sipline_sweeps_late",
            "Ticks that fired later than their interval's tolerance (5 %, 0.1 s to 15 s) "
            "after their due time.",
            registry=r,
        )
        self.in_flight = Gauge("sipline_in_flight", "Deliveries being processed now.", registry=r)
        self.consuming = Gauge(
            "sipline_consuming", "1 while connected to the broker and consuming.", registry=r
        )
        # --- fleet mode (SIPLINE_FLEET); absent from a single process's scrape -----------
        self.routed = Counter(
            "sipline_fleet_routed",
            "Deliveries the fleet's router took off the command queue, by outcome (routed "
            "to a shard, or rejected).",
            ["outcome"],
            registry=None,
        )
        self.routing_seconds = Histogram(
            "sipline_fleet_routing_duration_seconds",
            "Time from a command's arrival at the router to its ack (its copy confirmed).",
            buckets=WAIT_BUCKETS,
            registry=None,
        )
        self.handovers = Counter(
            "sipline_fleet_handovers",
            "Shards this process took (subscribed to) or gave away (drained and closed).",
            ["direction"],
            registry=None,
        )
        self.shards_owned = Gauge(
            "sipline_fleet_shards_owned",
            "Shards this process is subscribed to (active or waiting): those it consumes, "
            "those waiting for the previous owner to let go, those it is still giving away.",
            registry=None,
        )
        self.members = Gauge(
            "sipline_fleet_members", "Live fleet members this process sees.", registry=None
        )
        self._fleet_registered = False

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once: ``labels()`` locks and hashes each call,
        and label sets are few (they are bounded)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def watch(self, worker: WorkerState) -> None:
        """Read the in-flight count and the consuming state from the worker at scrape time."""
        self.in_flight.set_function(lambda: float(worker.in_flight))
        self.consuming.set_function(lambda: 1.0 if worker.consuming else 0.0)

    # --- the runtime's MessageObserver -------------------------------------------------
    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        kind = _command_type(command_type)
        self._child(self.commands, kind, _bounded(outcome)).inc()
        self._child(self.handler_seconds, kind).observe(seconds)
        if outcome == "retried":
            self._child(self.retries, kind).inc()

    def published(self, event_type: str, verdict: str | None) -> None:
        self._child(self.events, _bounded(event_type)).inc()
        if verdict is not None:
            self._child(self.verdicts, _bounded(verdict)).inc()

    def dead_lettered(self, reason: str) -> None:
        self._child(self.dead_letters, _bounded(reason)).inc()

    # --- the handlers' RepairObserver ----------------------------------------------------
    def repair(self, outcome: str) -> None:
        self._child(self.repairs, _bounded(outcome)).inc()

    # --- the upstream clients' UpstreamMetrics -------------------------------------------
    def upstream_call(
        self, upstream: str, method: str, status: int | None, code: str, seconds: float
    ) -> None:
        method = _bounded(method)
        status_label = str(status) if status is not None and 100 <= status <= 599 else "none"
        self._child(self.upstream, upstream, method, status_label, _bounded(code)).inc()
        self._child(self.upstream_seconds, upstream, method).observe(seconds)

    def limiter_wait(self, upstream: str, portal: str, seconds: float) -> None:
        self._child(self.limiter_waits, upstream, _bounded(portal)).observe(seconds)

    def reauthorization_required(self, reason: str) -> None:
        self._child(self.reauthorizations, _bounded(reason)).inc()

    # --- the fleet's FleetObserver ------------------------------------------------------
    def _fleet(self) -> None:
        """Register the fleet's metrics on first use, so a single process does not show
        them (always zero) beside its own."""
        if self._fleet_registered:
            return
        self._fleet_registered = True
        for metric in (
            self.routed,
            self.routing_seconds,
            self.handovers,
            self.shards_owned,
            self.members,
        ):
            self.registry.register(metric)

    def fleet_routed(self, outcome: str, seconds: float) -> None:
        self._fleet()
        self._child(self.routed, _bounded(outcome)).inc()
        if outcome == "routed":
            self.routing_seconds.observe(seconds)

    def fleet_handover(self, direction: str) -> None:
        self._fleet()
        self._child(self.handovers, _bounded(direction)).inc()

    def fleet_state(self, *, shards: int, members: int) -> None:
        self._fleet()
        self.shards_owned.set(shards)
        self.members.set(members)

    # --- the sweep schedule's ScheduleObserver and SweepRunObserver -----------------------
    def sweep_scheduled(self, *, late: bool) -> None:
        self.sweeps_scheduled.inc()
        if late:
            self.sweeps_late.inc()

    def sweep_run(self, trigger: str) -> None:
        self._child(self.sweeps_run, "schedule" if trigger == "schedule" else "command").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
