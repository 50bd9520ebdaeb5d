"""The sandbox in a process of its own, for the resilience suite.

``python -m tests.resilience.sandbox_proc CONFIG.json`` reads a JSON object::

    {"directory": "...", "dotenv": "...", "info": "...",
     "portal": {PortalOptions fields}, "accept": {"server", "login", "password"},
     "wait_seconds": 0.1, "progress_seconds": 0.1, "lines": 100}

builds a :class:`Sandbox`, makes ``lines`` cloud lines up front (titles ``pre-N``), starts
it, writes the worker's dotenv to ``dotenv`` and, last, ``info`` (JSON: the portal's base
URL, its webhook URL, the account's admin URL, the pre-made config ids), then serves until
SIGTERM. ``info`` appears atomically, so its existence means "ready".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import AcceptRule
from worker.sandbox.stack import Sandbox


def _write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _premade(sandbox: Sandbox, count: int, accept: dict[str, str]) -> list[int]:
    book = sandbox.portal().lines
    made = []
    for n in range(count):
        params = {
            "TITLE": f"pre-{n}",
            "SERVER": accept["server"],
            "LOGIN": f"pre-{n}",
            "PASSWORD": accept["password"],
        }
        made.append(int(book.add(params, None).result["CONFIG_ID"]))
    return made


async def serve(config: dict[str, Any]) -> None:
    accept = config["accept"]
    sandbox = Sandbox(
        directory=Path(config["directory"]),
        portals=[PortalOptions(**config["portal"])],
        rules=[AcceptRule(accept["server"], accept.get("login", "*"), accept["password"])],
        wait_seconds=float(config.get("wait_seconds", 0.1)),
        progress_seconds=float(config.get("progress_seconds", 0.1)),
    )
    config_ids = _premade(sandbox, int(config.get("lines", 0)), accept)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sandbox.start()
    try:
        _write(Path(config["dotenv"]), sandbox.dotenv())
        portal = sandbox.portal()
        info = {
            "portal_url": portal.base_url,
            "webhook_url": portal.webhook_url,
            "account_admin_url": sandbox.account.admin_url,
            "credentials": str(sandbox.account.credentials_path),
            "config_ids": config_ids,
            "pid": os.getpid(),
        }
        _write(Path(config["info"]), json.dumps(info))
        await stop.wait()
    finally:
        await sandbox.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
