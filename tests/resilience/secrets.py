"""The canary scan: no secret value in any log line, event or dead letter of a scenario.

Canaries: the SIP password the scenario's commands carry, the sandbox portal's webhook
code, and every line of the Voximplant private key's PEM body. A dead letter's BODY is the
original command kept byte for byte for replay, so a dead-lettered command that itself
carried the password may hold it there; nothing else may, and the webhook code and the key
may appear nowhere at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.resilience.ledger import Ledger

SIP_PASSWORD = "CANARY-sip-pw-7f3a91c2"
WEBHOOK_CODE = "CANARYHOOK5e1d0c7b9a"


def key_lines(credentials: Path) -> list[str]:
    """The base64 lines of the private key's PEM body (each one a canary)."""
    pem = json.loads(credentials.read_text())["private_key"]
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@dataclass
class Scan:
    log_lines: int = 0
    events: int = 0
    dead_letters: int = 0
    leaks: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        return {
            "log lines scanned": self.log_lines,
            "events scanned": self.events,
            "dead letters scanned": self.dead_letters,
            "leaks": len(self.leaks),
        }


def _hits(text: str, canaries: Iterable[str]) -> list[str]:
    return [c for c in canaries if c in text]


def scan(
    *, logs: Iterable[Path], ledger: Ledger, credentials: Path, password: str = SIP_PASSWORD
) -> Scan:
    everywhere = [WEBHOOK_CODE, *key_lines(credentials)]
    all_canaries = [password, *everywhere]
    result = Scan()
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            result.log_lines += 1
            for hit in _hits(line, all_canaries):
                result.leaks.append(f"{path.name}:{number} holds {hit[:12]}…")
    for raw in ledger.raw_events:
        result.events += 1
        for hit in _hits(raw.decode("utf-8", "replace"), all_canaries):
            result.leaks.append(f"event {raw[:80]!r} holds {hit[:12]}…")
    for dead in ledger.dead:
        result.dead_letters += 1
        headers = json.dumps(dead.headers, default=repr)
        for hit in _hits(headers, all_canaries):
            result.leaks.append(f"dead letter headers ({dead.message_id}) hold {hit[:12]}…")
        for hit in _hits(dead.body.decode("utf-8", "replace"), everywhere):
            result.leaks.append(f"dead letter body ({dead.message_id}) holds {hit[:12]}…")
    return result
