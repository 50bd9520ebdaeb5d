"""Every line of a portal and its registration status, in as few requests as paging allows.

The first ``voximplant.sip.get`` page says how many lines there are (``total``) and how
long a page is (``next``). The offsets of pages 2..N are then known, so they are fetched
inside ``batch`` requests, as fast_bitrix24's ``get_all`` does. Each cloud line's
``voximplant.sip.status`` joins the same queue as soon as its page is read, so every batch
but the last leaves full: a portal of L lines, C of them cloud, in pages of 50 costs
``1 + ceil((ceil(L / 50) - 1 + C) / 50)`` requests instead of ``ceil(L / 50) + ceil(C / 50)``.

Pages are read in a stable order (``CONFIG_ID`` ascending) and lines are kept once by
``CONFIG_ID``. If a line is added or removed between the first page and a later one, the
offsets shift and a line could be skipped; every page carries the total again, so a change
is seen: the survey is read again once, and a portal still changing under it is a
transient error (the sweep is retried later) rather than a sweep that misses a line.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from worker.adapters.bitrix24.batch import BatchCall
from worker.adapters.bitrix24.client import Bitrix24Client, sip_get_params, status_call
from worker.adapters.bitrix24.models import SipLine, SipStatus, parse_lines, status_of
from worker.adapters.upstream import Tally
from worker.errors import SiplineError, TransientError

LISTING_CHANGED = "LISTING_CHANGED"
_METHOD = "voximplant.sip.get"


@dataclass(slots=True)
class Survey:
    """The lines in ``CONFIG_ID`` order, and per cloud line's ``REG_ID`` a status or error."""

    lines: list[SipLine] = field(default_factory=list)
    statuses: dict[int, SipStatus | SiplineError] = field(default_factory=dict)


class _ListingChanged(Exception):
    """A later page reported another total than the first."""


@dataclass(frozen=True, slots=True)
class _Item:
    """A queued call: a page (``start``) or a line's status (``reg_id``)."""

    call: BatchCall
    start: int | None = None
    reg_id: int | None = None


async def survey(client: Bitrix24Client, *, tally: Tally | None = None) -> Survey:
    """Read every line and every cloud line's status (see the module for the cost)."""
    try:
        return await _Reader(client, tally).read()
    except _ListingChanged:
        pass
    try:
        return await _Reader(client, tally).read()
    except _ListingChanged:
        raise TransientError(
            f"Bitrix24 {_METHOD} on {client.portal}: the lines changed while they were read",
            code=LISTING_CHANGED,
        ) from None


class _Reader:
    def __init__(self, client: Bitrix24Client, tally: Tally | None) -> None:
        self._client, self._tally = client, tally
        self._lines: dict[int, SipLine] = {}
        self._statuses: dict[int, SipStatus | SiplineError] = {}
        self._asked: set[int] = set()
        self._queue: deque[_Item] = deque()
        self._total: int | None = None

    async def read(self) -> Survey:
        first = await self._client.call(_METHOD, sip_get_params(None, 0), tally=self._tally)
        page = parse_lines(first.get("result"), self._client.portal)
        self._total = _int(first.get("total"))
        step = _int(first.get("next"))
        if step and page:
            if self._total is None:  # no total: the offsets are unknown, read page by page
                page += await self._client.sip_get(start=step, tally=self._tally)
            else:
                for start in range(step, self._total, step):
                    call = BatchCall(_METHOD, sip_get_params(None, start))
                    self._queue.append(_Item(call, start=start))
        self._take(page)
        while self._queue:
            size = min(self._client.batch_size, len(self._queue))
            chunk = [self._queue.popleft() for _ in range(size)]
            answers = await self._client.batch_request(
                [item.call for item in chunk], tally=self._tally
            )
            for item, outcome in zip(chunk, answers, strict=True):
                if item.reg_id is not None:
                    self._statuses[item.reg_id] = status_of(outcome, self._client.portal)
                    continue
                if outcome.error is not None:
                    raise outcome.error
                if outcome.total is not None and outcome.total != self._total:
                    raise _ListingChanged
                self._take(parse_lines(outcome.result, self._client.portal))
        return Survey(lines=list(self._lines.values()), statuses=self._statuses)

    def _take(self, page: list[SipLine]) -> None:
        """Keep the page's new lines; queue a status call for each new cloud registration."""
        for line in page:
            if line.config_id in self._lines:
                continue
            self._lines[line.config_id] = line
            reg_id = line.reg_id
            if line.line_type == "cloud" and reg_id and reg_id not in self._asked:
                self._asked.add(reg_id)  # a REG_ID shared by two lines is asked once
                self._queue.append(_Item(status_call(reg_id), reg_id=reg_id))


def _int(value: object) -> int | None:
    try:
        return None if value in (None, "") else int(str(value))
    except ValueError:
        return None
