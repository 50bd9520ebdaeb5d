"""Request parameters as Bitrix24 reads them: JSON or form bodies, PHP-style brackets
(``FILTER[TYPE]=cloud``), the query string too, and keys case-insensitive."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

_PART = re.compile(r"\[([^\]]*)\]")


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][]=1`` pairs into nested dicts, as PHP builds ``$_REQUEST``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *_PART.findall(key[len(head) :])] if head else [key]
        node = root
        for part in path[:-1]:
            name = part or str(len(node))
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node = child
        node[path[-1] or str(len(node))] = value
    return root


def parse_query(query: str) -> dict[str, Any]:
    return php_parse(parse_qsl(query, keep_blank_values=True))


def upper_keys(params: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys in upper case: ``config_id`` and ``CONFIG_ID`` are the same."""
    return {str(k).upper(): v for k, v in params.items()}


async def request_params(request: web.Request) -> dict[str, Any]:
    """Query string and body merged (the body wins), keys upper-cased; raises ValueError."""
    merged: dict[str, Any] = parse_query(request.query_string)
    if request.method == "POST" and request.can_read_body:
        raw = await request.read()
        if raw:
            merged.update(_body(request.content_type, raw))
    return upper_keys(merged)


def _body(content_type: str, raw: bytes) -> dict[str, Any]:
    if content_type == "application/json":
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data
    return parse_query(raw.decode("utf-8"))


def php_map(values: Mapping[str, Any]) -> Any:
    """PHP's ``json_encode`` of an array: ``[]`` when empty, a list when keyed 0..n-1."""
    if not values:
        return []
    if list(values) == [str(i) for i in range(len(values))]:
        return list(values.values())
    return dict(values)
