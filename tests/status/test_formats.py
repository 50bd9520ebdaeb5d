"""The hand-made time formats of ``sipline status`` equal the library's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from worker.status.text import _when
from worker.status.views import _iso

MOMENTS = [
    datetime(2026, 11, 30, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 67, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_times_read_as_isoformat_writes_them(moment: datetime) -> None:
    assert _when(moment) == str(moment)[:19]
    assert _iso(moment) == moment.isoformat().replace("+00:00", "Z")


def test_a_time_not_in_utc_keeps_its_offset() -> None:
    elsewhere = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert _iso(elsewhere) == "2026-01-02T03:04:05+02:00"
    assert _iso(elsewhere.replace(tzinfo=None)) == "2026-01-02T03:04:05"
    assert _iso(datetime(2026, 1, 2, tzinfo=timezone(timedelta(0)))) == "2026-01-02T00:00:00Z"
    assert _when(None) == "-"
    assert _iso(None) is None
