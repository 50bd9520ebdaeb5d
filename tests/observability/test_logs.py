"""Structured logs: every line JSON, every outcome line naming what it was about."""

from __future__ import annotations

import json
import logging
from io import StringIO
from typing import Any

from tests.amqp_helpers import command, wait_for
from tests.e2e.conftest import PORTAL
from tests.observability.conftest import Observed
from worker.observability import logs

IDENTITY = ("command_id", "command_type", "portal", "line", "outcome", "attempt")


def outcome_lines(observed: Observed) -> list[dict[str, Any]]:
    return [
        line
        for line in observed.log_lines()
        if line["logger"] == "worker.runtime.processor" and "outcome" in line
    ]


async def test_every_outcome_line_names_its_command_line_and_verdict(observed: Observed) -> None:
    stack = observed.stack
    created = await stack.create("logged")
    await stack.outcome(created["command_id"], "line.reconciled")
    updated = await stack.send(
        "line.update", {"config_id": created["config_id"], "password": "wrong-now"}
    )
    await stack.outcome(updated, "line.reconciled")
    taken = await stack.send(
        "line.create", {"title": "logged", "server": "other.test", "login": "x", "password": "y"}
    )
    await stack.outcome(taken, "command.failed")
    bad = command("line.update", {"config_id": created["config_id"], "title": 7}, portal=PORTAL)
    # a producer sets the AMQP message-id to the command id, as the worker's own publisher
    # does (left unset, aiormq fills in a random one, and that is what the worker reports)
    await stack.broker.publish(bad, message_id=str(bad["id"]))
    await stack.outcome(str(bad["id"]), "command.rejected")
    deleted = await stack.send("line.delete", {"config_id": created["config_id"]})
    await stack.outcome(deleted, "line.deleted")

    lines = outcome_lines(observed)
    for line in lines:
        missing = [k for k in IDENTITY if k not in line]
        assert not missing, (missing, line)
        assert line["portal"] == PORTAL, line
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line["command_id"], []).append(line)

    # every reconciled event has an outcome line with its verdict, and only those do
    reconciled = stack.broker.events.of_type("line.reconciled")
    assert len(reconciled) == 2
    for event in reconciled:
        verdicts = [x.get("verdict") for x in by_id[event["causationid"]]]
        assert event["data"]["verdict"] in verdicts, (event, verdicts)
    assert len([x for x in lines if "verdict" in x]) == 2

    config_id = created["config_id"]
    assert [x["line"] for x in by_id[created["command_id"]]] == [config_id] * len(
        by_id[created["command_id"]]
    ), "a create's lines name the line it made"
    assert {x["outcome"] for x in by_id[updated]} == {"ok"}
    assert {x["line"] for x in by_id[updated]} == {config_id}
    [failed] = by_id[taken]
    assert failed["outcome"] == "failed"
    assert failed["line"] is None, "a create that made no line has no line to name"
    assert failed["error_code"] == "TITLE_EXISTS"
    [rejected] = by_id[str(bad["id"])]
    assert rejected["outcome"] == "rejected"
    assert rejected["command_type"] == "line.update"
    assert rejected["line"] == config_id, "an unparsed body still names its integer config_id"
    assert rejected["reason"] == "schema_violation"
    assert {x["line"] for x in by_id[deleted]} == {config_id}


async def test_an_unreadable_body_logs_nulls_not_guesses(observed: Observed) -> None:
    await observed.stack.broker.publish_raw(
        b"\xff\xfe", routing_key="line.create", message_id="unreadable-1"
    )
    await wait_for(lambda: len(observed.stack.broker.dead.messages) == 1, what="dead letter")
    await wait_for(lambda: bool(outcome_lines(observed)), what="the outcome line")
    [line] = outcome_lines(observed)
    assert line["outcome"] == "rejected"
    assert line["reason"] == "invalid_encoding"
    assert line["command_type"] == "line.create"
    assert line["command_id"] == "unreadable-1", "the AMQP message-id, the only id there is"
    assert line["portal"] is None
    assert line["line"] is None


def test_console_format_on_a_terminal_and_json_off_one() -> None:
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        for stream, is_json in ((Terminal(), False), (StringIO(), True)):
            logs.configure(level="INFO", stream=stream, secrets=["s3cr3t-value"])
            logging.getLogger("worker.test").info(
                "done s3cr3t-value", extra={"command_id": "c1", "line": None, "verdict": None}
            )
            text = stream.getvalue()
            assert "s3cr3t-value" not in text
            if is_json:
                record = json.loads(text)
                assert record["command_id"] == "c1"
                assert record["line"] is None, "identity fields are kept as null"
                assert "verdict" not in record, "other None extras are left out"
            else:
                assert text.rstrip().endswith("command_id=c1"), text
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_scrubber_masks_secrets_however_they_are_written() -> None:
    scrub = logs.Scrubber(['pa"ss\\word', "webhookcode123"])
    doubled = json.dumps({"m": json.dumps({"x": 'pa"ss\\word'})})
    assert "pa" not in scrub(doubled).replace('"m"', ""), scrub(doubled)
    assert "webhookcode123" not in scrub("https://p.example/rest/1/webhookcode123/x.json")
    for text in (
        '{"password": "hunter2"}',
        "{'client_secret': 'hunter2'}",
        json.dumps({"body": '{"refresh_token": "hunter2"}'}),
        "POST /oauth/token/?refresh_token=hunter2&x=1",
        "Authorization: Bearer hunter2",
        "/rest/12/hunter2/profile",
        "-----BEGIN PRIVATE KEY-----\nhunter2\n-----END PRIVATE KEY-----",
    ):
        assert "hunter2" not in scrub(text), (text, scrub(text))
    assert scrub('changed_fields ["title", "password"]') == 'changed_fields ["title", "password"]'
