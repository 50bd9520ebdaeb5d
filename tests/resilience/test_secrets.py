"""Scenario 5: the canaries (SIP password, webhook code, private key) never leak.

Every scenario scans its own worker logs, events and dead letters (``Run.scan``) and the
run's total is printed with the figures. This scenario goes looking for trouble: the
password travels in valid creates, in creates the portal refuses, in retried commands under
faults, and in hostile messages that put it where it does not belong (a wrong type, an
over-long password, an unknown field, a header). A claimed ``type`` is not a secret
field and an unknown one is quoted (64 characters at most) in the rejection, so the
password is not put there. Log lines, events and dead-letter headers
must never hold it; dead-letter bodies may (they are the original bytes, kept for replay);
the webhook code and the key may appear nowhere.
"""

from __future__ import annotations

import json
from typing import Any

from tests.resilience.commands import command, create, quiet, reconcile
from tests.resilience.conftest import SIP_SERVER, Run
from tests.resilience.processes import until
from tests.resilience.secrets import SIP_PASSWORD, WEBHOOK_CODE


def _hostile(tag: str) -> list[tuple[bytes, str, dict[str, Any]]]:
    """(body, routing key, headers) of messages that misuse the password."""
    good = create(f"{tag}-x", tag=tag)
    cases = [
        {**good, "data": {**good["data"], "password": SIP_PASSWORD * 10}},  # too long
        {**good, "data": {**good["data"], "password": [SIP_PASSWORD]}},  # wrong type
        {**good, "data": {**good["data"], "secret": SIP_PASSWORD}},  # unknown field
        {**good, "portal": SIP_PASSWORD},  # not a domain
        {**command("line.reconcile", {"config_id": SIP_PASSWORD}, tag=tag)},
    ]
    out = [(json.dumps(c).encode(), "line.create", {}) for c in cases]
    out.append((b'{"password": "' + SIP_PASSWORD.encode() + b'"', "line.create", {}))
    out.append((json.dumps(good).encode(), "line.create", {"x-note": SIP_PASSWORD}))
    return out


async def test_canaries_never_leak(make_run: Any, figures: dict[str, Any]) -> None:
    async with make_run("secrets", lines=5, max_attempts=50) as run:
        run: Run  # type: ignore[no-redef]
        await run.sandbox.portal_faults(run.session, error_500=0.1, html=0.1, drop=0.05)
        await run.sandbox.account_faults(run.session, shares={"status": 0.1, "html": 0.1})
        valid = [create(f"s-{n}", tag="s") for n in range(10)]
        valid += [reconcile(cid, tag="s") for cid in run.sandbox.config_ids]
        refused = create("s-wrong", tag="s")
        refused["data"]["server"] = "sip.unknown.test"  # registers with an error, not in sync
        valid.append(refused)
        run.worker.start()
        await run.worker.ready(run.session)
        await run.tap.publish_many(valid)
        bad = _hostile("s")
        for body, key, headers in bad:
            # the "x-note" case is valid; it names the password only in a header
            await run.tap.publish(body, routing_key=key, headers=headers)
        ids = [c["id"] for c in valid]
        ledger = run.tap.ledger
        await until(
            lambda: ledger.completed(ids) == len(ids) and len(ledger.dead) >= len(bad) - 1,
            limit=50,
            what="every outcome and dead letter",
        )
        await quiet(run.tap, limit=30)
        await run.sandbox.clear_faults(run.session)
        scanned = run.scan()
        dotenv = run.sandbox.dotenv.read_text()
        figures.update(
            {
                "commands carrying the password": len(valid) + len(bad),
                **scanned.figures(),
                "dead-letter bodies holding the password (by design)": sum(
                    1 for d in ledger.dead if SIP_PASSWORD.encode() in d.body
                ),
            }
        )
        assert WEBHOOK_CODE in dotenv, "the canary is not the webhook code in use"
        assert SIP_SERVER
        assert scanned.log_lines > 0
        assert scanned.events >= len(ids)
        assert scanned.leaks == []
