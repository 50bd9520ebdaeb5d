"""OAuth token pairs: encrypted, one row per portal, a generation per stored pair."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import RowMapping, delete, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import PORTALS_COUNTER, counters, oauth_tokens
from worker.store.records import Reauthorization, ReauthReason, RefreshIntent, TokenRecord

NO_REFRESH = {
    "refresh_by": None,
    "refresh_started_at": None,
    "refresh_lease_until": None,
    "refresh_fingerprint": None,
}
"""No refresh recorded in flight."""
CLEARED = {
    **NO_REFRESH,
    "reauth_reason": None,
    "reauth_since": None,
    "reauth_detail": None,
}
"""A stored pair ends any refresh in flight and any need to authorise again."""


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
            **CLEARED,
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

    async def begin_refresh(
        self, portal: str, *, owner: str, fingerprint: str, lease_until: datetime
    ) -> None:
        await self._set(
            portal,
            refresh_by=owner[:200],
            refresh_started_at=self._now(),
            refresh_lease_until=lease_until,
            refresh_fingerprint=fingerprint,
        )

    async def end_refresh(self, portal: str, *, answered: bool) -> None:
        if answered:
            await self._set(portal, **NO_REFRESH)
        else:  # kept as evidence; nobody needs to wait for it any longer
            await self._set(portal, refresh_lease_until=self._now())

    async def require_reauth(self, portal: str, *, reason: ReauthReason, detail: str) -> None:
        await self._set(
            portal,
            **NO_REFRESH,
            reauth_reason=reason,
            reauth_since=self._now(),
            reauth_detail=detail,
        )

    async def needing_reauth(self) -> list[TokenRecord]:
        query = (
            select(oauth_tokens)
            .where(oauth_tokens.c.reauth_reason.is_not(None))
            .order_by(oauth_tokens.c.portal)
        )
        rows = (await self._conn.execute(query)).mappings().all()
        return [self._record(row) for row in rows]

    async def _set(self, portal: str, **values: object) -> None:
        await self._conn.execute(
            update(oauth_tokens).where(oauth_tokens.c.portal == portal.lower()).values(**values)
        )

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
            in_flight=_intent(row),
            reauth=_reauth(row),
        )


def _intent(row: RowMapping) -> RefreshIntent | None:
    if row["refresh_fingerprint"] is None:
        return None
    return RefreshIntent(
        owner=row["refresh_by"] or "",
        started_at=row["refresh_started_at"],
        lease_until=row["refresh_lease_until"] or row["refresh_started_at"],
        fingerprint=row["refresh_fingerprint"],
    )


def _reauth(row: RowMapping) -> Reauthorization | None:
    reason = row["reauth_reason"]
    if reason not in ("refresh_lost", "refresh_refused"):
        return None
    return Reauthorization(
        reason=reason, since=row["reauth_since"], detail=row["reauth_detail"] or ""
    )
