"""OAuth token pairs: encrypted, one row per portal, a generation per stored pair."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import RowMapping, delete, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import PORTALS_COUNTER, counters, oauth_tokens
from worker.store.records import TokenRecord


class SqlTokens(Repository):
    async def get(self, portal: str) -> TokenRecord | None:
        query = select(oauth_tokens).where(oauth_tokens.c.portal == portal.lower())
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else self._record(row)

    async def lock(self, portal: str) -> TokenRecord | None:
        # FOR UPDATE on PostgreSQL; SQLite renders nothing and relies on BEGIN IMMEDIATE
        query = (
            select(oauth_tokens).where(oauth_tokens.c.portal == portal.lower()).with_for_update()
        )
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else self._record(row)

    async def put(
        self,
        portal: str,
        *,
        access_token: SecretStr,
        refresh_token: SecretStr,
        expires_at: datetime | None,
    ) -> TokenRecord:
        portal = portal.lower()
        values = {
            "access_token_enc": self._cipher.encrypt(access_token),
            "refresh_token_enc": self._cipher.encrypt(refresh_token),
            "expires_at": expires_at,
            "updated_at": self._now(),
        }
        query = (
            update(oauth_tokens)
            .where(oauth_tokens.c.portal == portal)
            .values(generation=oauth_tokens.c.generation + 1, **values)
            .returning(oauth_tokens.c.generation)
        )
        generation = (await self._conn.execute(query)).scalar_one_or_none()
        if generation is None:
            generation = 1
            await self._conn.execute(
                oauth_tokens.insert().values(portal=portal, generation=generation, **values)
            )
            await self._bump_registry()
        return TokenRecord(
            portal=portal,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            generation=int(generation),
        )

    async def seed(
        self,
        portal: str,
        *,
        access_token: SecretStr,
        refresh_token: SecretStr,
        expires_at: datetime | None,
    ) -> TokenRecord:
        portal = portal.lower()
        query = (
            self._insert(oauth_tokens)
            .values(
                portal=portal,
                access_token_enc=self._cipher.encrypt(access_token),
                refresh_token_enc=self._cipher.encrypt(refresh_token),
                expires_at=expires_at,
                generation=1,
                updated_at=self._now(),
            )
            .on_conflict_do_nothing(index_elements=["portal"])
            .returning(oauth_tokens.c.portal)
        )
        if (await self._conn.execute(query)).first() is not None:
            await self._bump_registry()
        stored = await self.get(portal)
        assert stored is not None
        return stored

    async def _bump_registry(self) -> None:
        # a portal's first pair makes it servable: registry pollers must look again
        await self._conn.execute(
            update(counters)
            .where(counters.c.name == PORTALS_COUNTER)
            .values(value=counters.c.value + 1)
        )

    async def remove(self, portal: str) -> bool:
        query = delete(oauth_tokens).where(oauth_tokens.c.portal == portal.lower())
        return (await self._conn.execute(query)).rowcount > 0

    def _record(self, row: RowMapping) -> TokenRecord:
        return TokenRecord(
            portal=row["portal"],
            access_token=self._cipher.decrypt(row["access_token_enc"]),
            refresh_token=self._cipher.decrypt(row["refresh_token_enc"]),
            expires_at=row["expires_at"],
            generation=int(row["generation"]),
        )
