"""Every class of bad input is dead-lettered with its reason, and valid traffic keeps flowing."""

from __future__ import annotations

import json
from typing import Any

from tests.amqp_helpers import command, wait_for
from tests.runtime.conftest import RunWorker
from tests.runtime.fakes import ScriptedHandler
from worker.errors import BadInput
from worker.runtime import headers
from worker.runtime.handler import CommandContext, Outcome

CANARY = "CANARY-secret-9d2f"


class UnknownPortal:
    async def __call__(self, command: object, context: CommandContext) -> Outcome:
        raise BadInput("no portal named nowhere.example", reason="unknown_portal")


def _with_body_id(kwargs: dict[str, Any], message_id: str) -> dict[str, Any]:
    """Give a JSON body the same id as the AMQP message (the rejection names the body's)."""
    try:
        body = json.loads(kwargs["body"])
    except ValueError:
        return kwargs
    if isinstance(body, dict) and "id" in body:
        body["id"] = message_id
        return {**kwargs, "body": json.dumps(body).encode()}
    return kwargs


def _valid(n: int) -> dict[str, object]:
    return command("line.reconcile", {"config_id": 1000 + n})


async def test_each_bad_input_is_dead_lettered_and_the_queue_keeps_flowing(
    run_worker: RunWorker,
) -> None:
    handler = ScriptedHandler()
    async with run_worker(
        {"line.reconcile": handler, "line.delete": UnknownPortal()}, max_body_bytes=2048
    ) as (_, b):
        bad: list[tuple[str, dict[str, object]]] = [
            ("not_json", {"body": b"{not json", "routing_key": "line.create"}),
            ("invalid_encoding", {"body": b'{"type": "\xff\xfe"}', "routing_key": "line.create"}),
            (
                "wrong_content_type",
                {
                    "body": json.dumps(_valid(0)).encode(),
                    "routing_key": "line.reconcile",
                    "content_type": "text/plain",
                },
            ),
            ("body_too_large", {"body": b"{" + b" " * 5000 + b"}", "routing_key": "line.create"}),
            (
                "unknown_type",
                {
                    "body": json.dumps(command("line.explode", {})).encode(),
                    "routing_key": "line.explode",
                },
            ),
            (
                "schema_violation",
                {
                    "body": json.dumps(
                        command(
                            "line.create",
                            {"title": "t", "server": "s", "password": CANARY},
                        )
                    ).encode(),
                    "routing_key": "line.create",
                },
            ),
            (
                "unknown_portal",
                {
                    "body": json.dumps(
                        command("line.delete", {"config_id": 3}, id_="bad-6")
                    ).encode(),
                    "routing_key": "line.delete",
                },
            ),
            (
                "unsupported_version",
                {
                    "body": json.dumps(
                        {**_valid(1), "dataschema": "urn:sipline:schema:line.reconcile:v9"}
                    ).encode(),
                    "routing_key": "line.reconcile",
                },
            ),
        ]
        for n, (_, kwargs) in enumerate(bad):
            await b.publish(_valid(n + 10))
            await b.publish_raw(message_id=f"bad-{n}", **_with_body_id(kwargs, f"bad-{n}"))
        await b.publish(_valid(99))

        await wait_for(lambda: len(b.dead.messages) == len(bad), what="dead letters")
        await wait_for(
            lambda: len(b.events.of_type("command.rejected")) == len(bad), what="rejections"
        )
        await wait_for(
            lambda: len(b.events.of_type("line.reconciled")) == len(bad) + 1, what="valid work"
        )

        reasons = {m.message_id: m.headers[headers.REASON] for m in b.dead.messages}
        assert reasons == {f"bad-{n}": reason for n, (reason, _) in enumerate(bad)}
        for dead in b.dead.messages:
            assert dead.headers[headers.ERROR_MESSAGE]
            assert dead.headers[headers.FIRST_FAILURE]
            assert dead.headers[headers.WORKER_VERSION]
            assert dead.headers[headers.ORIGINAL_EXCHANGE] == b.spec.names.commands_exchange
            assert dead.headers[headers.ORIGINAL_ROUTING_KEY] == dead.routing_key
            assert json.loads(dead.headers[headers.FIELD_ERRORS]) is not None
        # the body is kept byte for byte, so an operator can fix and replay it
        assert {m.message_id: m.body for m in b.dead.messages}["bad-0"] == b"{not json"

        rejected = {e["causationid"]: e["data"] for e in b.events.of_type("command.rejected")}
        assert {k: v["reason"] for k, v in rejected.items()} == reasons
        schema = next(v for k, v in rejected.items() if reasons[k] == "schema_violation")
        assert schema["command_type"] == "line.create"
        assert {"field": "data.login", "problem": "Field required"} in schema["errors"]
        everything = [m.body for m in b.events.messages] + [
            json.dumps({k: str(v) for k, v in m.headers.items()}).encode() for m in b.dead.messages
        ]
        assert not any(CANARY.encode() in blob for blob in everything)
        assert await b.queue_depth(b.spec.names.commands_queue) == 0


async def test_a_rejection_names_the_body_id_even_without_a_message_id(
    run_worker: RunWorker,
) -> None:
    async with run_worker({"line.reconcile": ScriptedHandler()}) as (_, b):
        body = command("line.create", {"title": "t"}, id_="publisher-id-1")
        await b.publish_raw(json.dumps(body).encode(), routing_key="line.create")
        await wait_for(lambda: len(b.events.of_type("command.rejected")) == 1, what="rejection")
        event = b.events.of_type("command.rejected")[0]
        assert event["causationid"] == "publisher-id-1"
        assert event["data"]["command_type"] == "line.create"


async def test_a_body_too_large_is_never_parsed(run_worker: RunWorker) -> None:
    """The rejection names what the AMQP properties say: reading a body the worker refused
    for its size would cost what the limit is there to avoid."""
    async with run_worker({"line.reconcile": ScriptedHandler()}, max_body_bytes=2048) as (_, b):
        body = command("line.reconcile", {"config_id": 1, "pad": "x" * 4096}, id_="in-the-body")
        body["correlationid"] = "corr-in-the-body"
        await b.publish_raw(
            json.dumps(body).encode(), routing_key="line.reconcile", message_id="in-the-properties"
        )
        await wait_for(lambda: len(b.events.of_type("command.rejected")) == 1, what="rejection")

        event = b.events.of_type("command.rejected")[0]
        assert event["data"]["reason"] == "body_too_large"
        assert event["causationid"] == "in-the-properties"
        assert event["correlationid"] == "in-the-properties"
        assert event["portal"] is None
        assert event["data"]["command_type"] == "line.reconcile"
