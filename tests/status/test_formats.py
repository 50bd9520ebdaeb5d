"""``sipline status``'s layout: the hand-made time formats equal the library's own, and a
terminal sees the plain columns, coloured, with long findings cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import click
import pytest

from worker.status.text import _when, portal_table
from worker.status.views import PortalView, _iso
from worker.store import LineRecord

LONG = "far " * 39 + "far"
MOMENTS = [
    datetime(2026, 11, 30, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 67, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_times_read_as_isoformat_writes_them(moment: datetime) -> None:
    assert _when(moment) == str(moment)[:19]
    assert _iso(moment) == moment.isoformat().replace("+00:00", "Z")


def test_every_value_of_every_field_reads_as_isoformat_writes_it() -> None:
    # the fields are laid out from a table of two-digit strings: each entry is used here
    moments = [datetime(2026, 12, 31, 23, 59, n, tzinfo=UTC) for n in range(60)]
    moments += [datetime(2026, 1, 1, 0, n, 0, 1, tzinfo=UTC) for n in range(60)]
    moments += [datetime(2026, 1, 1, n, tzinfo=UTC) for n in range(24)]
    moments += [datetime(2026, 1, n, tzinfo=UTC) for n in range(1, 32)]
    moments += [datetime(n, month, 1, tzinfo=UTC) for n, month in ((1, 1), (2027, 12))]
    for moment in moments:
        assert _when(moment) == str(moment)[:19]
        assert _iso(moment) == moment.isoformat().replace("+00:00", "Z")


def test_a_time_not_in_utc_keeps_its_offset() -> None:
    elsewhere = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert _iso(elsewhere) == "2026-01-02T03:04:05+02:00"
    assert _iso(elsewhere.replace(tzinfo=None)) == "2026-01-02T03:04:05"
    assert _iso(datetime(2026, 1, 2, tzinfo=timezone(timedelta(0)))) == "2026-01-02T00:00:00Z"
    assert _when(None) == "-"
    assert _iso(None) is None


def test_the_terminal_shows_the_plain_columns_coloured_and_cuts_long_findings() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        LineRecord("a.test", 1, "x", "cloud", 5, "config_drift", at, at, [LONG], "c",
                   False, "e", at),
        LineRecord("a.test", 12, None, None, None, None, None, None, [], None, True, "e", at),
    ]  # fmt: skip
    view = PortalView("a.test", lines, {"config_drift": 1})
    plain = portal_table(view, first=True, terminal=False)
    shown = [click.unstyle(row) for row in portal_table(view, first=True, terminal=True, width=80)]
    assert plain[0] == shown[0] == "a.test: 1 lines (1 config_drift)"
    assert plain[1] == shown[1]
    assert plain[1].split() == [
        "CONFIG_ID", "TITLE", "TYPE", "REG_ID", "VERDICT", "SINCE", "CHECKED", "FINDINGS"
    ]  # fmt: skip
    assert plain[2].startswith("1          x      cloud  5       config_drift         2026-")
    assert plain[2].endswith(LONG)  # whole into a pipe
    assert shown[2].startswith(plain[2][:60])
    # cut to what the screen leaves (at least 12 characters)
    assert shown[2].endswith("  far far far…")
    assert plain[3] == shown[3]
    assert plain[3].split()[:5] == ["12", "-", "-", "-", "unchecked"]
    assert "(deleted)" in plain[3]
    assert portal_table(view, first=False, terminal=False)[0] == ""
