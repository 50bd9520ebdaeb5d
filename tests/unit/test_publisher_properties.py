"""AMQP properties mirror the envelope only when they fit a short string (≤ 255 bytes)."""

from __future__ import annotations

from pamqp import commands

from contracts import CommandRejectedData
from worker.adapters.amqp.publisher import envelope_message
from worker.runtime.events import make_event


def _encodes(message: object) -> None:
    props = commands.Basic.Properties(
        message_id=message.message_id,  # type: ignore[attr-defined]
        correlation_id=message.correlation_id,  # type: ignore[attr-defined]
        message_type=message.type,  # type: ignore[attr-defined]
    )
    props.marshal()


def test_a_long_non_ascii_correlation_id_stays_in_the_body_only() -> None:
    correlation = "ж" * 128  # contract-valid (≤ 128 characters), 256 bytes
    event = make_event(
        CommandRejectedData(reason="schema_violation", message="bad"),
        causation=correlation,
        correlation=correlation,
        portal=None,
        subject=None,
    )
    message = envelope_message(event)
    assert message.correlation_id is None
    assert correlation.encode() in message.body
    _encodes(message)


def test_short_ids_are_mirrored() -> None:
    event = make_event(
        CommandRejectedData(reason="not_json", message="bad"),
        causation="c-1",
        correlation="corr-1",
        portal=None,
        subject=None,
    )
    message = envelope_message(event)
    assert (message.message_id, message.correlation_id) == (event.id, "corr-1")
    assert message.type == "command.rejected"
    _encodes(message)


def test_the_byte_limit_is_exact_whatever_the_characters() -> None:
    # 63 four-byte characters (252 bytes) fit, 64 of them (256 bytes) do not; the envelope
    # allows 128 characters, which fit when they are ASCII
    for value, fits in (("😀" * 63, True), ("😀" * 64, False), ("a" * 128, True)):
        event = make_event(
            CommandRejectedData(reason="not_json", message="bad"),
            causation="c-1",
            correlation=value,
            portal=None,
            subject=None,
        )
        message = envelope_message(event)
        assert message.correlation_id == (value if fits else None)
        _encodes(message)
