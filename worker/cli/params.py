"""Argument types shared by ``sipline send``, ``dlq`` and ``events``: bad values end in a clear
usage error (exit 2) before any work starts, never in a traceback."""

from __future__ import annotations

import math
import re
from typing import Any

import click

# The settings' pattern for a topology prefix; the longest derived name must stay within the
# 255 bytes AMQP allows for a queue or exchange name.
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")


class FiniteFloat(click.ParamType[float]):
    """A number in ``[low, high]``: NaN and infinity refused (click's FloatRange lets NaN by)."""

    name = "number"

    def __init__(self, low: float, high: float, *, unit: str = "") -> None:
        self.low, self.high, self.unit = low, high, unit

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(
                f"{value!r} is not between {self.low:g} and {self.high:g}{self.unit}", param, ctx
            )
        return number


class Prefix(click.ParamType[str]):
    """A topology prefix as the settings accept it, short enough for every derived name."""

    name = "prefix"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not _PREFIX.match(text):
            self.fail(
                f"{text[:60]!r} is not a topology prefix (lower-case letters, digits, '.', '_', "
                "'-', at most 200 characters)",
                param,
                ctx,
            )
        return text


PREFIX = Prefix()
