"""``sipline sandbox``, ``sipline run``, ``sipline send`` and ``sipline sandbox-ctl`` as a
user runs them, each in its own process, against the real broker."""

from __future__ import annotations

import json
import stat
import uuid
from typing import Any

from tests.cli.conftest import CANARY, CANARY_SERVER, PORTAL, Call, Stack, events


def _create(stack: Stack, title: str) -> tuple[str, list[dict[str, Any]]]:
    return events(
        stack.send(
            "line.create",
            "--portal",
            PORTAL,
            "--title",
            title,
            "--server",
            CANARY_SERVER,
            "--login",
            f"user-{title}",
            "--password-env",
            "SIP_PASSWORD",
            "--wait",
            "--timeout",
            "15",
            env={"SIP_PASSWORD": CANARY},
        )
    )


def _line(stack: Stack, title: str) -> dict[str, Any]:
    _, found = _create(stack, title)
    return next(e for e in found if e["type"] == "line.created")["data"]


def _reconcile(stack: Stack, config_id: int) -> dict[str, Any]:
    # no --portal: the env file names one portal, which is the default
    _, found = events(
        stack.send("line.reconcile", "--config-id", str(config_id), "--wait", "--timeout", "15")
    )
    assert found[-1]["type"] == "line.reconciled"
    return dict(found[-1]["data"])


def test_the_sandbox_prints_a_masked_summary_and_writes_a_private_env_file(stack: Stack) -> None:
    summary = stack.sandbox.stdout.read_text()
    env_text = stack.env_file.read_text()
    assert stat.S_IMODE(stack.env_file.stat().st_mode) == 0o600
    code = (
        json.loads(env_text.split("SIPLINE_PORTALS='", 1)[1].split("'", 1)[0])[PORTAL][
            "webhook_url"
        ]
        .rstrip("/")
        .rsplit("/", 1)[-1]
    )
    assert f"/rest/1/{code}/" in env_text
    assert code not in summary
    assert "/rest/1/***/" in summary
    assert f"sipline run --env-file {stack.env_file}" in summary
    assert "/platform_api/" in summary
    assert str(stack.directory / "state" / "credentials.json") in summary
    assert f"server {CANARY_SERVER}, any login" in summary


def test_create_waits_for_the_line_to_be_in_sync(stack: Stack) -> None:
    command_id, found = _create(stack, "created")
    assert uuid.UUID(command_id)
    assert [e["type"] for e in found] == ["line.created", "line.reconciled"]
    assert all(e["causationid"] == command_id for e in found)
    assert found[-1]["data"]["verdict"] == "in_sync"


def test_a_divergence_made_with_sandbox_ctl_shows_as_config_drift(stack: Stack) -> None:
    line = _line(stack, "drifting")
    reg_id = str(line["reg_id"])
    diverged = stack.ctl("diverge", reg_id, "--proxy", "other.example.net")
    assert diverged.returncode == 0, diverged.stderr
    drift = _reconcile(stack, line["config_id"])
    assert drift["verdict"] == "config_drift"
    assert drift["voximplant"]["proxy"] == "other.example.net"

    assert stack.ctl("converge", reg_id).returncode == 0
    assert _reconcile(stack, line["config_id"])["verdict"] == "in_sync"

    counters = stack.ctl("stats")
    assert counters.returncode == 0, counters.stderr
    stats = json.loads(counters.stdout)
    assert stats["bitrix24"][PORTAL]["requests"] > 0
    assert stats["voximplant"]["requests"] > 0


def test_update_reads_the_password_from_stdin(stack: Stack) -> None:
    line = _line(stack, "updated")
    config_id = str(line["config_id"])
    result = stack.send(
        "line.update", "--config-id", config_id, "--password-stdin", "--wait", stdin=CANARY + "\n"
    )
    _, found = events(result)
    assert found[0]["type"] == "line.updated"
    assert found[0]["data"]["reregistration"] is True
    assert found[-1]["type"] == "line.reconciled"
    assert found[-1]["data"]["verdict"] == "in_sync"

    renamed = stack.send("line.update", "--config-id", config_id, "--title", "renamed", "--wait")
    _, found = events(renamed)
    assert [e["type"] for e in found] == ["line.updated"]


def test_a_command_file_is_completed_validated_and_published(stack: Stack) -> None:
    line = _line(stack, "from-file")
    short = stack.directory / "short.json"
    short.write_text(
        json.dumps(
            {"type": "line.reconcile", "portal": PORTAL, "data": {"config_id": line["config_id"]}}
        )
    )
    result = stack.send("--file", str(short), "--correlation-id", "op-42", "--wait")
    command_id, found = events(result)
    assert found[-1]["type"] == "line.reconciled"
    assert all(e["correlationid"] == "op-42" for e in found)
    assert all(e["causationid"] == command_id for e in found)

    envelope = {
        "specversion": "1.0",
        "id": "sweep-" + uuid.uuid4().hex,
        "source": "urn:test:cli",
        "type": "portal.sweep",
        "portal": PORTAL,
        "data": {},
    }
    swept = stack.send("--file", "-", "--wait", stdin=json.dumps(envelope))
    command_id, found = events(swept)
    assert command_id == envelope["id"]
    assert found[-1]["type"] == "portal.swept"
    assert found[-1]["data"]["lines_checked"] >= 1

    deleted = stack.send("line.delete", "--config-id", str(line["config_id"]), "--wait")
    _, found = events(deleted)
    assert [e["type"] for e in found] == ["line.deleted"]


def test_invalid_input_exits_2_with_field_errors(stack: Stack) -> None:
    too_long = "p" * 101
    line = ("--title", "x", "--server", "s.example.net", "--login", "l")
    bad_file = stack.directory / "bad.json"
    bad_file.write_text(json.dumps({"type": "line.create", "portal": "not a domain", "data": {}}))
    zero, long_password, invalid, unknown, no_password, in_argv = stack.together(
        Call(stack.send_args("line.reconcile", "--config-id", "0")),
        Call(stack.send_args("line.create", *line, "--password-env", "PW"), env={"PW": too_long}),
        Call(stack.send_args("--file", str(bad_file))),
        Call(stack.send_args("--file", "-"), stdin=json.dumps({"type": "line.explode"})),
        Call(stack.send_args("line.create", *line)),
        Call(stack.send_args("line.create", "--password", "secret", *line)),
    )
    assert zero.returncode == 2
    assert "  data.config_id: " in zero.stderr
    assert zero.stdout == ""

    assert long_password.returncode == 2
    assert "password is longer than 100 characters" in long_password.stderr
    assert too_long not in long_password.stderr

    assert invalid.returncode == 2
    for name in ("portal", "data.title", "data.server", "data.login", "data.password"):
        assert f"  {name}: " in invalid.stderr

    assert unknown.returncode == 2
    assert "unknown command type 'line.explode'" in unknown.stderr

    assert no_password.returncode == 2, "stdin is not a terminal: no prompt, an error"
    assert "--password-stdin or --password-env" in no_password.stderr

    assert in_argv.returncode == 2
    assert "No such option" in in_argv.stderr


def test_a_wrong_prefix_a_wrong_side_and_faults_from_sandbox_ctl(stack: Stack) -> None:
    prefix = "no-such-prefix-" + uuid.uuid4().hex
    wrong_prefix, portal, account, wrong_side, missing = stack.together(
        Call(["send", "portal.sweep", "--portal", PORTAL, "--prefix", prefix]),
        Call(stack.ctl_args("faults", "--latency", "0", "--html", "0")),
        Call(stack.ctl_args("faults", "--on", "voximplant", "--kind", "status", "--times", "1")),
        Call(stack.ctl_args("faults", "--on", "voximplant", "--error-500", "0.5")),
        Call(stack.ctl_args("diverge", "999999", "--deactivated")),
    )
    assert wrong_prefix.returncode == 1
    assert "is a worker running with the prefix" in wrong_prefix.stderr

    assert portal.returncode == 0, portal.stderr
    assert json.loads(portal.stdout)[PORTAL]["html"] == 0.0
    assert account.returncode == 0, account.stderr
    assert stack.ctl("faults", "--on", "voximplant", "--clear").returncode == 0

    assert wrong_side.returncode == 2
    assert "--error-500 do not apply to the voximplant side" in wrong_side.stderr
    assert missing.returncode == 1
    assert "no such registration" in missing.stderr


def test_zz_processes_stop_cleanly_and_never_print_the_password(stack: Stack) -> None:
    """Runs last (pytest keeps file order): stops the module's worker and sandbox."""
    assert stack.worker.stop() == 0
    assert stack.sandbox.stop() == 0
    for text in [stack.worker.output(), stack.sandbox.output(), *stack.outputs]:
        assert CANARY not in text
