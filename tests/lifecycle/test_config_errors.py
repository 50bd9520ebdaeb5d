"""Every configuration problem: one line naming the variable, exit code 2, no traceback, no
secret; for every command that reads settings (issue 9, item 5)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from worker.cli.main import main

CANARY = "canary-Zq9xW2"  # a secret value that must never be printed
WEBHOOK = f"https://a.bitrix24.test/rest/1/{CANARY}/"

# every command that builds settings, with arguments that get it that far
COMMANDS = [
    ["config"],
    ["run"],
    ["send", "line.reconcile", "--portal", "a.bitrix24.test", "--config-id", "1"],
    ["dlq", "list"],
    ["events"],
    ["demo"],
]

PROBLEMS = {
    "portals not JSON": (
        {"SIPLINE_PORTALS": f'{{"a.bitrix24.test": {{"webhook_url": "{WEBHOOK}"'},
        "SIPLINE_PORTALS: not valid JSON",
    ),
    "retry delays not JSON": ({"SIPLINE_RETRY_DELAYS": "[1, 5,"}, "SIPLINE_RETRY_DELAYS"),
    "# in the AMQP password": (
        {"SIPLINE_AMQP_URL": f"amqp://guest:{CANARY}#x@127.0.0.1:5672/"},
        "SIPLINE_AMQP_URL: contains '#'",
    ),
    "vhost of two segments": (
        {"SIPLINE_AMQP_URL": f"amqp://guest:{CANARY}@127.0.0.1:5672/a/b"},
        "SIPLINE_AMQP_URL: the virtual host",
    ),
    "empty AMQP URL": ({"SIPLINE_AMQP_URL": ""}, "SIPLINE_AMQP_URL: is empty"),
    "AMQP URL without scheme": (
        {"SIPLINE_AMQP_URL": "127.0.0.1:5672"},
        "SIPLINE_AMQP_URL: must start with amqp://",
    ),
    "garbage AMQP URL": ({"SIPLINE_AMQP_URL": "%%garbage%%"}, "SIPLINE_AMQP_URL"),
    "webhook_url not a URL": (
        {"SIPLINE_PORTALS": f'{{"a.bitrix24.test": {{"webhook_url": "{CANARY}"}}}}'},
        'SIPLINE_PORTALS: portal "a.bitrix24.test": webhook_url: is not an inbound webhook URL',
    ),
    "a typo in a name": (
        {"SIPLINE_PORTAL": f'{{"a.bitrix24.test": {{"webhook_url": "{WEBHOOK}"}}}}'},
        "SIPLINE_PORTAL: not a setting; did you mean SIPLINE_PORTALS?",
    ),
    "a bad number": ({"SIPLINE_PREFETCH": "0"}, "SIPLINE_PREFETCH: "),
    "a bad choice": ({"SIPLINE_LOG_LEVEL": "LOUD"}, "SIPLINE_LOG_LEVEL: "),
}


def invoke(args: list[str], env: dict[str, str], env_file: Path | None = None) -> Result:
    # the test process's own SIPLINE_* variables must not leak in
    clean: dict[str, str | None] = dict.fromkeys(
        (k for k in os.environ if k.upper().startswith(("SIPLINE_", "VOXIMPLANT_"))), None
    )
    clean.update(env)
    extra = ["--env-file", str(env_file)] if env_file else []
    return CliRunner().invoke(main, [*args, *extra], env=clean, catch_exceptions=False)


def assert_one_clean_problem(result: Result, expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sipline: "), lines
    assert expected in lines[0], lines
    assert "Traceback" not in result.output
    assert CANARY not in result.output


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_every_command_reports_every_problem_as_one_line_and_exit_2(
    args: list[str], problem: str
) -> None:
    env, expected = PROBLEMS[problem]
    assert_one_clean_problem(invoke(args, env), expected)


def test_a_typo_in_the_env_file_is_rejected_too(tmp_path: Path) -> None:
    env_file = tmp_path / "sipline.env"
    env_file.write_text("SIPLINE_PREFECH=16\nSIPLINE_TOPOLOGY_PREFIX=x\n")
    result = invoke(["config"], {}, env_file)
    assert_one_clean_problem(
        result, "SIPLINE_PREFECH: not a setting; did you mean SIPLINE_PREFETCH?"
    )


def test_a_name_far_from_any_setting_gets_no_suggestion() -> None:
    result = invoke(["config"], {"SIPLINE_ZZZZZZZZZZZZZZZZZZ": "1"})
    assert_one_clean_problem(result, "SIPLINE_ZZZZZZZZZZZZZZZZZZ: not a setting")
    assert "did you mean" not in result.stderr


def test_several_problems_are_one_line_each() -> None:
    result = invoke(["config"], {"SIPLINE_PREFETCH": "0", "SIPLINE_MAX_ATTEMPTS": "-1"})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "SIPLINE_PREFETCH",
        "SIPLINE_MAX_ATTEMPTS",
    ]


def test_good_settings_still_pass() -> None:
    result = invoke(
        ["config"],
        {
            "SIPLINE_AMQP_URL": "amqps://user:p%23ss%40word@broker.example:5671/%2Fprod",
            "SIPLINE_PORTALS": f'{{"a.bitrix24.test": {{"webhook_url": "{WEBHOOK}"}}}}',
            "VOXIMPLANT_CREDENTIALS": "/etc/sipline/credentials.json",
        },
    )
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    assert "p%23ss" not in result.output


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP port that records every connection it is offered."""
    accepted: list[object] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        server.close()


def test_a_malformed_amqp_url_stops_run_before_any_io(
    listener: tuple[int, list[object]],
) -> None:
    port, accepted = listener
    result = invoke(["run"], {"SIPLINE_AMQP_URL": f"amqp://guest:{CANARY}#@127.0.0.1:{port}/"})
    assert_one_clean_problem(result, "SIPLINE_AMQP_URL")
    assert accepted == []
