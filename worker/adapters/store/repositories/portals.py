"""The portal registry: one row per domain, secrets encrypted, a store-wide version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from sqlalchemy import RowMapping, delete, func, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import PORTALS_COUNTER, counters, oauth_tokens, portals
from worker.store.errors import PortalExists, PortalNotFound
from worker.store.records import PortalRecord, PortalState

_SECRETS = {
    "webhook_url": "webhook_url_enc",
    "client_secret": "client_secret_enc",
    "application_token": "application_token_enc",
}
_PLAIN = (
    "auth",
    "client_id",
    "rest_url",
    "oauth_server_url",
    "plan",
    "bucket_capacity",
    "drain_per_second",
    "enabled",
    "member_id",
    "sweep_interval",
    "repair_policy",
    "repair_budget",
    "owns_voximplant_account",
)


class SqlPortals(Repository):
    async def get(self, domain: str) -> PortalRecord | None:
        query = select(portals).where(portals.c.domain == domain.lower())
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else self._record(row)

    async def list(self, *, enabled: bool | None = None) -> list[PortalRecord]:
        query = select(portals).order_by(portals.c.domain)
        if enabled is not None:
            query = query.where(portals.c.enabled == enabled)
        rows = (await self._conn.execute(query)).mappings().all()
        return [self._record(row) for row in rows]

    async def states(self, *, after: str | None = None, limit: int) -> Sequence[PortalState]:
        query = (
            select(portals.c.domain, portals.c.enabled, portals.c.auth)
            .order_by(portals.c.domain)
            .limit(limit)
        )
        if after is not None:
            query = query.where(portals.c.domain > after)
        rows = (await self._conn.execute(query)).all()
        return [PortalState(domain, bool(enabled), auth) for domain, enabled, auth in rows]

    async def by_member_id(self, member_id: str) -> PortalRecord | None:
        query = select(portals).where(portals.c.member_id == member_id).limit(1)
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else self._record(row)

    async def add(self, portal: PortalRecord) -> PortalRecord:
        domain = portal.domain.lower()
        exists = select(portals.c.domain).where(portals.c.domain == domain)
        if (await self._conn.execute(exists)).first() is not None:
            raise PortalExists(f"portal {domain} is already registered")
        now = self._now()
        values = self._values(portal) | {
            "domain": domain,
            "created_at": now,
            "updated_at": now,
            "version": await self._bump(),
        }
        await self._conn.execute(portals.insert().values(**values))
        stored = await self.get(domain)
        assert stored is not None
        return stored

    async def update(self, portal: PortalRecord) -> PortalRecord:
        domain = portal.domain.lower()
        exists = select(portals.c.domain).where(portals.c.domain == domain).with_for_update()
        if (await self._conn.execute(exists)).first() is None:
            raise PortalNotFound(f"portal {domain} is not registered")
        values = self._values(portal) | {"updated_at": self._now(), "version": await self._bump()}
        await self._conn.execute(update(portals).where(portals.c.domain == domain).values(**values))
        stored = await self.get(domain)
        assert stored is not None
        return stored

    async def remove(self, domain: str) -> bool:
        domain = domain.lower()
        result = await self._conn.execute(delete(portals).where(portals.c.domain == domain))
        if result.rowcount == 0:
            return False
        await self._conn.execute(delete(oauth_tokens).where(oauth_tokens.c.portal == domain))
        await self._bump()
        return True

    async def revision(self) -> int:
        query = select(counters.c.value).where(counters.c.name == PORTALS_COUNTER)
        return int((await self._conn.execute(query)).scalar_one())

    async def count(self) -> int:
        return int(
            (await self._conn.execute(select(func.count()).select_from(portals))).scalar_one()
        )

    async def _bump(self) -> int:
        query = (
            update(counters)
            .where(counters.c.name == PORTALS_COUNTER)
            .values(value=counters.c.value + 1)
            .returning(counters.c.value)
        )
        return int((await self._conn.execute(query)).scalar_one())

    def _values(self, portal: PortalRecord) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(portal, name) for name in _PLAIN}
        for name, column in _SECRETS.items():
            secret: SecretStr | None = getattr(portal, name)
            values[column] = None if secret is None else self._cipher.encrypt(secret)
        return values

    def _record(self, row: RowMapping) -> PortalRecord:
        fields: dict[str, Any] = {name: row[name] for name in _PLAIN}
        for name, column in _SECRETS.items():
            token = row[column]
            fields[name] = None if token is None else self._cipher.decrypt(token)
        return PortalRecord(
            domain=row["domain"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=int(row["version"]),
            **fields,
        )
