"""The machine-readable contract, derived from the models: JSON Schemas and AsyncAPI 3.0.

Pure functions returning plain dicts; ``sipline schema`` writes them to ``contracts/schemas/``
and ``contracts/asyncapi.yaml``, and a test fails when the checked-in files differ. Nothing
here is edited by hand: change the models, then regenerate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts import CONTRACT_VERSION
from contracts.commands import COMMANDS
from contracts.envelope import CONTENT_TYPE, Envelope, dataschema_uri
from contracts.events import EVENTS
from contracts.examples import COMMANDS as COMMAND_EXAMPLES
from contracts.examples import EVENTS as EVENT_EXAMPLES

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
COMMANDS_EXCHANGE = "sipline.commands"
EVENTS_EXCHANGE = "sipline.events"
DEAD_LETTER_QUEUE = "sipline.commands.dlq"

Json = dict[str, Any]
MessageModel = type[Envelope[Any]]


def message_models() -> dict[str, MessageModel]:
    """Every message type of the contract, commands first, in contract order."""
    return {**COMMANDS, **EVENTS}


def kind_of(message_type: str) -> str:
    """``command`` or ``event``."""
    return "command" if message_type in COMMANDS else "event"


def schema_file_name(model: MessageModel) -> str:
    """``line.create.v1.json``: one file per message type and major version."""
    return f"{model.MESSAGE_TYPE}.v{model.SCHEMA_MAJOR}.json"


def summary_of(model: type[Any]) -> str:
    """The first paragraph of a model's docstring, on one line."""
    doc = (model.__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(doc.split())


def message_schema(model: MessageModel) -> Json:
    """The standalone JSON Schema (draft 2020-12) of one message, as a publisher validates it."""
    body = model.model_json_schema(mode="validation")
    kind = kind_of(model.MESSAGE_TYPE)
    head: Json = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": dataschema_uri(model.MESSAGE_TYPE, model.SCHEMA_MAJOR),
        "title": f"{model.MESSAGE_TYPE} {kind}, v{model.SCHEMA_MAJOR}",
        "description": summary_of(model),
    }
    return head | {k: v for k, v in body.items() if k not in ("title", "description")}


def json_schemas() -> dict[str, Json]:
    """Every message's JSON Schema keyed by its file name under ``contracts/schemas/``."""
    return {schema_file_name(m): message_schema(m) for m in message_models().values()}


def _message_key(model: MessageModel) -> str:
    name = model.__name__
    return name[0].lower() + name[1:]


def _amqp(**fields: Any) -> Json:
    return {"amqp": {**fields, "bindingVersion": AMQP_BINDING_VERSION}}


def _exchange_channel(exchange: str, description: str, models: Sequence[MessageModel]) -> Json:
    keys = ", ".join(f"`{m.MESSAGE_TYPE}`" for m in models)
    return {
        "address": exchange,
        "title": exchange,
        "description": f"{description} Routing key = message type: {keys}.",
        "messages": {
            _message_key(m): {"$ref": f"#/components/messages/{_message_key(m)}"} for m in models
        },
        "bindings": _amqp(
            **{
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
            }
        ),
    }


def _dead_letter_channel(models: Sequence[MessageModel]) -> Json:
    return {
        "address": DEAD_LETTER_QUEUE,
        "title": DEAD_LETTER_QUEUE,
        "description": (
            "Commands that were rejected, failed for good or exceeded the delivery limit, "
            "unchanged but for x-sipline-* headers that say why. Operators inspect and replay "
            "them with `sipline dlq`; nothing else should consume this queue."
        ),
        "messages": {
            _message_key(m): {"$ref": f"#/components/messages/{_message_key(m)}"} for m in models
        },
        "bindings": _amqp(
            **{
                "is": "queue",
                "queue": {
                    "name": DEAD_LETTER_QUEUE,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
            }
        ),
    }


def _operation(model: MessageModel, channel: str) -> tuple[str, Json]:
    receive = channel == "commands"
    key = _message_key(model)
    verb = "receive" if receive else "send"
    bindings = (
        _amqp(cc=[model.MESSAGE_TYPE], ack=True)
        if receive
        else _amqp(cc=[model.MESSAGE_TYPE], deliveryMode=2, mandatory=True, timestamp=True)
    )
    title = f"Apply {model.MESSAGE_TYPE}" if receive else f"Publish {model.MESSAGE_TYPE}"
    return f"{verb}{model.__name__}", {
        "action": verb,
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": title,
        "summary": summary_of(model),
        "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"}],
        "bindings": bindings,
    }


def _example(model: MessageModel) -> Json:
    examples: dict[str, Envelope[Any]] = {**COMMAND_EXAMPLES, **EVENT_EXAMPLES}
    instance = examples[model.MESSAGE_TYPE]
    payload: Json = json.loads(instance.wire_json())
    return {
        "name": _message_key(model),
        "summary": f"A typical {model.MESSAGE_TYPE} {kind_of(model.MESSAGE_TYPE)}.",
        "payload": payload,
    }


def _message(model: MessageModel, schema_name: str) -> Json:
    return {
        "name": model.MESSAGE_TYPE,
        "title": model.MESSAGE_TYPE,
        "summary": summary_of(model),
        "contentType": CONTENT_TYPE,
        "correlationId": {
            "description": "Ties together every message of one business operation.",
            "location": "$message.payload#/correlationid",
        },
        "payload": {"$ref": f"#/components/schemas/{schema_name}"},
        "bindings": _amqp(messageType=model.MESSAGE_TYPE),
        "examples": [_example(model)],
    }


def component_schemas() -> tuple[dict[str, str], dict[str, Json]]:
    """All model schemas with flattened ``$defs``: (message type → schema name, schemas)."""
    models = list(message_models().values())
    refs, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    names = {m.MESSAGE_TYPE: refs[(m, "validation")]["$ref"].rsplit("/", 1)[1] for m in models}
    return names, dict(sorted(top.get("$defs", {}).items()))


def asyncapi() -> Json:
    """The AsyncAPI 3.0.0 document, from sipline's point of view (it receives commands)."""
    commands, events = list(COMMANDS.values()), list(EVENTS.values())
    names, schemas = component_schemas()
    operations = dict(
        [_operation(m, "commands") for m in commands] + [_operation(m, "events") for m in events]
    )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "sipline",
            "version": CONTRACT_VERSION,
            "description": (
                "sipline applies Bitrix24 cloud PBX line changes and cross-checks each line's "
                "SIP registration against Voximplant. Publish commands to the "
                f"`{COMMANDS_EXCHANGE}` topic exchange; consume events from "
                f"`{EVENTS_EXCHANGE}`. Every message is a CloudEvents 1.0 structured-mode JSON "
                "object; see docs/contracts.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ of compose.yaml (guest/guest, vhost /).",
            }
        },
        "channels": {
            "commands": _exchange_channel(
                COMMANDS_EXCHANGE, "Commands for sipline, published by other services.", commands
            ),
            "events": _exchange_channel(
                EVENTS_EXCHANGE, "Events sipline publishes for audit consumers.", events
            ),
            "deadLetters": _dead_letter_channel(commands),
        },
        "operations": operations,
        "components": {
            "messages": {_message_key(m): _message(m, names[m.MESSAGE_TYPE]) for m in commands}
            | {_message_key(m): _message(m, names[m.MESSAGE_TYPE]) for m in events},
            "schemas": schemas,
        },
    }
