"""Which database the store is, from the settings: one owner of the URL and its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from worker.errors import ConfigurationError
from worker.settings import Settings

DEFAULT_FILE = "sipline.db"


@dataclass(frozen=True, slots=True)
class Location:
    """A resolved store: the driver URL, its password-free rendering, and the schema."""

    url: URL
    backend: Literal["sqlite", "postgresql"]
    display: str
    schema: str | None = None

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL."""
        return Path(self.url.database or "") if self.backend == "sqlite" else None


def resolve(settings: Settings) -> Location:
    """``SIPLINE_STORE_URL``, or the embedded file under ``SIPLINE_DATA_DIR``."""
    if settings.store_url is None:
        raw = f"sqlite:///{settings.data_dir / DEFAULT_FILE}"
    else:
        raw = settings.store_url.get_secret_value().strip()
    return parse(raw, schema=settings.store_schema)


def parse(raw: str, *, schema: str | None = None) -> Location:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigurationError(
            "SIPLINE_STORE_URL is not a URL (expected sqlite:///PATH or postgresql://…)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:") or url.database.startswith("file:"):
            raise ConfigurationError(
                "SIPLINE_STORE_URL: an SQLite store needs a file path, sqlite:///PATH"
            )
        url = url.set(drivername="sqlite+aiosqlite")
        return Location(url=url, backend="sqlite", display=f"sqlite:///{url.database}")
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
        display = url.set(drivername="postgresql").render_as_string(hide_password=True)
        if schema:
            display += f" (schema {schema})"
        return Location(url=url, backend="postgresql", display=display, schema=schema)
    raise ConfigurationError(
        f"SIPLINE_STORE_URL: unsupported database {backend!r} (use sqlite:/// or postgresql://)"
    )
