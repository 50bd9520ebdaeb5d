"""500 calls for one portal queued at once against the sandbox portal's leaky bucket.

The portal's bucket holds 50 requests and drains 20 per second (the shape of Bitrix24's
50 / 2 per second, ten times faster so the run takes seconds).  The client's own bucket
(aiolimiter, shared by every caller for the portal) should keep every request under the
portal's: zero ``QUERY_LIMIT_EXCEEDED``, and after the first burst a sustained rate close
to the drain rate.

    .venv/bin/python -m benchmarks.bitrix24_bucket [--calls 500] [--capacity 50] [--drain 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from worker.bootstrap import bitrix24_portals
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import RegistrationStore
from worker.settings import Settings

DOMAIN = "bench.bitrix24.test"


@dataclass(frozen=True)
class Result:
    calls: int
    seconds: float
    burst: int
    sustained_rate: float
    rejected: int
    retried: int


async def run(calls: int, capacity: int, drain: float) -> Result:
    options = PortalOptions(domain=DOMAIN, bucket_capacity=capacity, drain_per_second=drain)
    async with (
        SandboxPortal(registrations=RegistrationStore(), options=options) as portal,
        aiohttp.ClientSession() as session,
    ):
        settings = Settings(
            portals={DOMAIN: portal.portal_settings()},
            bitrix24_token_store=Path(tempfile.gettempdir()) / "sipline-bench-tokens.json",
        )
        client = bitrix24_portals(settings, session=session).get(DOMAIN).client
        started = time.monotonic()
        done: list[float] = []

        async def one() -> None:
            await client.connector_status()
            done.append(time.monotonic() - started)

        await asyncio.gather(*(one() for _ in range(calls)))
        done.sort()
        burst = client.limiter.capacity
        after = done[burst - 1 :]
        sustained = (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else 0.0
        return Result(
            calls=calls,
            seconds=done[-1],
            burst=burst,
            sustained_rate=sustained,
            rejected=portal.counters.query_limit_rejections,
            retried=client.requests_made - calls,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--drain", type=float, default=20.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.capacity, args.drain))
    share = result.sustained_rate / args.drain
    print(f"portal bucket: {args.capacity} draining {args.drain:g}/s; {result.calls} calls at once")
    print(f"finished in {result.seconds:.2f} s; first burst {result.burst} calls")
    print(f"QUERY_LIMIT_EXCEEDED answers: {result.rejected} (client retries: {result.retried})")
    print(
        f"sustained rate after the burst: {result.sustained_rate:.2f} req/s "
        f"= {share:.1%} of the drain rate"
    )


if __name__ == "__main__":
    main()
