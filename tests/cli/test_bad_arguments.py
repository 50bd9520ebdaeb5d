"""Every bad argument ends in one clear line and exit 2: no traceback, nothing done.

Runs the real command, as an operator would; the values are the ones that used to crash
it (binary and deeply nested files, durations and offsets out of range, NaN and infinity,
a prefix no queue name can carry).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import base_env

DEEP = "[" * 100_000 + "]" * 100_000


def sipline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli.main", *args],
        env=env or base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-arguments")
    made = {
        "binary": bytes(range(256)) * 4,
        "deep": DEEP.encode(),
        "nan": b'{"type": "line.delete", "portal": "a.bitrix24.ru", "data": {"config_id": NaN}}',
    }
    out = {}
    for name, data in made.items():
        out[name] = folder / name
        out[name].write_bytes(data)
    return out


CASES: dict[str, tuple[list[str], str]] = {
    "send --file binary": (["send", "--file", "{binary}"], "not UTF-8"),
    "send --file deep": (["send", "--file", "{deep}"], "nested too deeply"),
    "send --file NaN": (["send", "--file", "{nan}"], "NaN is not a JSON value"),
    "send --timeout nan": (
        ["send", "--timeout", "nan", "line.delete", "--config-id", "1"],
        "'--timeout'",
    ),
    "send --prefix too long": (
        ["send", "--prefix", "p" * 300, "line.delete", "--config-id", "1"],
        "not a topology prefix",
    ),
    "dlq import binary": (["dlq", "import", "{binary}"], "nothing imported"),
    "dlq import deep": (["dlq", "import", "{deep}"], "nested too deeply"),
    "dlq replay --older-than": (["dlq", "replay", "--older-than", "99999999999d"], "too long"),
    "dlq list --newer-than": (["dlq", "list", "--newer-than", "99999999999w"], "too long"),
    "dlq replay --rate inf": (["dlq", "replay", "--rate", "inf"], "'--rate'"),
    "dlq replay --rate nan": (["dlq", "replay", "--rate", "nan"], "'--rate'"),
    "dlq list --prefix": (["dlq", "list", "--prefix", "Not A Prefix"], "not a topology prefix"),
    "events --from days": (["events", "--from", "1000000000d"], "too long ago"),
    "events --since days": (["events", "--since", "1000000000d"], "too long ago"),
    "events --from offset": (["events", "--from", "9" * 23], "stream offset is at most"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_argument_is_one_clear_error(case: str, files: dict[str, Path]) -> None:
    template, expected = CASES[case]
    args = [arg.format(**{k: str(v) for k, v in files.items()}) for arg in template]
    result = sipline(*args)
    assert expected in result.stderr, result.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip(), "no error message"
    assert len(result.stderr.strip().splitlines()) <= 6, result.stderr
