"""Scheduled sweeps: every portal is swept every ``sweep_interval``, spread over the interval,
with exactly one pending tick per portal held by RabbitMQ and named by the store.

=============  ===================================================================
``plan``       pure: each portal's slots (phase), how a tick waits (hops, interval queues)
``tick``       the tick's wire form, and the id and source of the sweep it fires
``outbox``     confirmed publishes: ticks into their wait queues, ``portal.sweep`` commands
``scan``       every process looks: arms missing, changed and lost ticks, stops unserved portals
``ticks``      every process consumes ticks: drop, hop on, or fire (compare-and-set first)
``service``    one process's schedule: a channel, the scanner and the tick consumer
``trigger``    ``portal.sweep`` by trigger: scheduled sweeps report only what diverges
=============  ===================================================================

docs/architecture.md ("The sweep schedule") walks through every crash point.
"""

from worker.schedule.service import ScheduleConfig, SweepSchedule
from worker.schedule.tick import SCHEDULE_SOURCE
from worker.schedule.trigger import SweepByTrigger

__all__ = ["SCHEDULE_SOURCE", "ScheduleConfig", "SweepByTrigger", "SweepSchedule"]
