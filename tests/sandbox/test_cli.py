"""``sipline sandbox --portals N`` and ``sipline sandbox-ctl`` as separate processes."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.cli.conftest import SIPLINE, base_env, start, wait_until
from worker.settings import Settings

SALT = "cli-salt"


class _Recorder(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.bodies.append((self.headers.get("Content-Type", ""), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    bodies: list[tuple[str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


def _sipline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIPLINE, *args], env=base_env(), capture_output=True, text=True, timeout=30, check=False
    )


def test_many_portals_from_the_command_line(
    tmp_path: Path, recorder: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, bodies = recorder
    env_file, json_file = tmp_path / "sandbox.env", tmp_path / "sandbox.json"
    args = ["sandbox", "--portals", "5", "--state-dir", str(tmp_path / "state")]
    args += ["--env-file", str(env_file), "--json-file", str(json_file), "--latency", "0.01"]
    args += ["--auth", "oauth", "--token-ttl", "20", "--wait-seconds", "0.1"]
    args += ["--progress-seconds", "0.1", "--voximplant-callback-url", url]
    args += ["--voximplant-callback-salt", SALT, "--log-format", "json"]
    server = start("sandbox", args, base_env(), tmp_path)
    try:
        wait_until(lambda: json_file.exists() or server.popen.poll() is not None, 15, "the files")
        assert server.popen.poll() is None, server.output()
        assert oct(json_file.stat().st_mode & 0o777) == "0o600"
        described = json.loads(json_file.read_text())
        settings = Settings(_env_file=env_file)
        assert len(settings.portals) == 5
        domain = "p0003.bitrix24.test"
        assert f"/p/{domain}/rest/" in str(settings.portals[domain].oauth.rest_url)  # type: ignore[union-attr]
        assert described["voximplant"]["callback_url"] == url
        assert "5 on http://127.0.0.1:" in server.stdout.read_text()

        installed = _sipline(
            "sandbox-ctl", "install", "--env-file", str(env_file), "--url", url, "--portal", domain
        )
        assert installed.returncode == 0, installed.stderr
        assert "ONAPPINSTALL" in installed.stdout
        content_type, raw = bodies[0]
        form = dict(parse_qsl(raw.decode()))
        assert content_type == "application/x-www-form-urlencoded"
        assert form["auth[domain]"] == domain
        assert form["auth[expires_in]"] == "20"
        assert form["auth[access_token]"] not in installed.stdout + installed.stderr

        # a line that fails to register → a signed callback to the URL given at start
        admin = described["portals"][domain]["base_url"]
        request = urllib.request.Request(
            f"{admin}/rest/voximplant.sip.add",
            data=json.dumps(
                {"auth": form["auth[access_token]"], "SERVER": "sip.sandbox.test", "LOGIN": "1"}
                | {"PASSWORD": "wrong"}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        wait_until(lambda: len(bodies) >= 2, 10, "the callback")
        callback = json.loads(bodies[1][1])["callbacks"][0]
        assert callback["type"] == "sip_registration_fail"

        faults = _sipline("sandbox-ctl", "faults", "--env-file", str(env_file), "--latency", "0")
        assert faults.returncode == 0, faults.stderr
        stats = _sipline("sandbox-ctl", "stats", "--env-file", str(env_file))
        assert stats.returncode == 0, stats.stderr
        counted = json.loads(stats.stdout)
        assert len(counted["bitrix24"]) == 5
        assert counted["bitrix24"][domain]["installs"] == 1
        assert counted["bitrix24"][domain]["by_method"] == {"voximplant.sip.add": 1}
        assert set(counted["bitrix24"][domain]["oauth"]) >= {
            "refreshes",
            "expired_token",
            "invalid_grant",
        }
        assert counted["bitrix24_totals"]["requests"] == 1
        assert counted["voximplant"]["callbacks_delivered"] == 1
        assert SALT not in stats.stdout
    finally:
        assert server.stop() == 0
