"""``sipline events`` in a subprocess, as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from contracts.examples import EVENTS as EXAMPLES
from tests.amqp_helpers import AMQP_URL, Broker
from tests.ops_events.conftest import publish_event
from worker.ops.events.render import WARNING_MARK


async def sipline(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "SIPLINE_AMQP_URL": AMQP_URL}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=40)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _fill(b: Broker) -> list[str]:
    types = list(EXAMPLES)
    for event_type in types:
        await publish_event(b, EXAMPLES[event_type].wire_json(), routing_key=event_type)
    await publish_event(b, b'{"type": "line.created", "password": "hunter2"}')
    return types


async def test_json_lines(log_broker: Broker) -> None:
    types = await _fill(log_broker)
    prefix = log_broker.spec.names.prefix

    code, out, err = await sipline("events", "--prefix", prefix, "--json", "--limit", "3")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["offset"] for line in lines] == [0, 1, 2]
    assert [line["event"]["type"] for line in lines] == types[:3]

    code, out, err = await sipline("events", "--prefix", prefix, "--json", "--type", "line.*")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["event"]["type"] for line in lines] == [
        *(t for t in types if t.startswith("line.")),
        "line.created",
    ]
    assert "warning" in lines[-1]
    assert "hunter2" not in out


async def test_table_and_errors(log_broker: Broker) -> None:
    await _fill(log_broker)
    prefix = log_broker.spec.names.prefix

    code, out, err = await sipline("events", "--prefix", prefix, "--verdict", "config_drift")
    assert code == 0, err
    assert "correlation id" in out
    assert "line.reconciled" in out
    assert "1 event(s)" in err

    code, out, err = await sipline("events", "--prefix", prefix, "--from", "5")
    assert code == 0, err
    assert WARNING_MARK in out
    assert "hunter2" not in out

    code, _, err = await sipline("events", "--prefix", "no-such-prefix", "--json")
    assert code == 2
    assert "no event log stream 'no-such-prefix.events.log'" in err

    code, _, err = await sipline("events", "--prefix", prefix, "--from", "yesterday")
    assert code == 2
    assert "--from" in err
