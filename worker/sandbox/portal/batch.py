"""``batch``: up to 50 commands in one request, each a method with a query string.

Commands run in order; ``$result[key][field]`` refers to an earlier command's result.
Failures come back in ``result_error`` with HTTP 200; ``halt=1`` stops at the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.lines import Page
from worker.sandbox.portal.params import parse_query, php_map, upper_keys

MAX_COMMANDS = 50
_REFERENCE = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]+\])*)")

RunOne = Callable[[str, dict[str, Any]], tuple[Page, dict[str, Any]]]


def _resolve(text: str, results: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        node: Any = results.get(match.group(1))
        for part in re.findall(r"\[([^\]]+)\]", match.group(2)):
            node = node.get(part) if isinstance(node, Mapping) else None
        return "" if node is None else quote(str(node))

    return _REFERENCE.sub(value, text)


def run_batch(params: Mapping[str, Any], run_one: RunOne) -> dict[str, Any]:
    """Execute the commands with ``run_one(method, params) -> (page, time block)``."""
    commands = params.get("CMD")
    if not isinstance(commands, Mapping):
        raise ApiError("INVALID_ARG_VALUE", "cmd must be a map of commands", 400)
    if len(commands) > MAX_COMMANDS:
        raise ApiError(
            "ERROR_BATCH_LENGTH_EXCEEDED", f"Max batch length exceeded ({MAX_COMMANDS})", 400
        )
    halt = str(params.get("HALT", "0")).lower() in ("1", "true", "y")
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    nexts: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for key, command in commands.items():
        method, _, query = _resolve(str(command), results).partition("?")
        method = method.strip().lower()
        try:
            if method == "batch":
                raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Batch call is not allowed", 405)
            page, time_block = run_one(method, upper_keys(parse_query(query)))
        except ApiError as exc:
            errors[key] = exc.body()
            if halt:
                break
            continue
        results[key] = page.result
        times[key] = time_block
        if page.total is not None:
            totals[key] = page.total
        if page.next is not None:
            nexts[key] = page.next
    return {
        "result": php_map(results),
        "result_error": php_map(errors),
        "result_total": php_map(totals),
        "result_next": php_map(nexts),
        "result_time": php_map(times),
    }
