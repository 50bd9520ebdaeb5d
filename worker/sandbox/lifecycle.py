"""``async with`` for the sandbox's servers: enter starts them, exit stops them."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Served:
    """Mixin for a server with ``start()`` and an idempotent ``stop()``."""

    async def start(self) -> Any:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
