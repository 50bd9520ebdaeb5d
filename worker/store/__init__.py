"""The store port: what handlers, the runtime and the CLI may know about persistent state.

Nothing here imports SQLAlchemy or a database driver. The records are plain frozen
dataclasses; the repositories and the unit of work are protocols, satisfied by the SQL
adapter in :mod:`worker.adapters.store` (SQLite or PostgreSQL) and, in handler tests, by
fakes. Bitrix24 stays the source of truth for lines and Voximplant for registrations: the
store holds what must outlive a process (the portal registry, OAuth tokens shared by every
process, the projected current state of every line, de-duplication keys).
"""

from worker.store.errors import (
    PortalExists,
    PortalNotFound,
    StoreError,
    StoreKeyError,
    StoreSchemaError,
    StoreUnavailable,
)
from worker.store.ports import (
    CallbackRepository,
    CreateCommandRepository,
    LineRepository,
    PortalRepository,
    RepairRepository,
    ScheduleRepository,
    Store,
    TokenRepository,
    UnitOfWork,
)
from worker.store.records import (
    AuthKind,
    Cadence,
    Firing,
    IssuedTokens,
    LineChange,
    LineChangeKind,
    LineFilter,
    LineKey,
    LineRecord,
    Plan,
    PortalRecord,
    PortalState,
    Reauthorization,
    ReauthReason,
    RefreshIntent,
    RepairPolicy,
    RepairRecord,
    TickRecord,
    TokenRecord,
)
from worker.store.tokens import (
    REFRESH_LEASE,
    NoTokens,
    TokenPersistError,
    TokenRefresher,
    fingerprint,
    refresh_under_lock,
    store_issued,
)

__all__ = [
    "REFRESH_LEASE",
    "AuthKind",
    "Cadence",
    "CallbackRepository",
    "CreateCommandRepository",
    "Firing",
    "IssuedTokens",
    "LineChange",
    "LineChangeKind",
    "LineFilter",
    "LineKey",
    "LineRecord",
    "LineRepository",
    "NoTokens",
    "Plan",
    "PortalExists",
    "PortalNotFound",
    "PortalRecord",
    "PortalRepository",
    "PortalState",
    "ReauthReason",
    "Reauthorization",
    "RefreshIntent",
    "RepairPolicy",
    "RepairRecord",
    "RepairRepository",
    "ScheduleRepository",
    "Store",
    "StoreError",
    "StoreKeyError",
    "StoreSchemaError",
    "StoreUnavailable",
    "TickRecord",
    "TokenPersistError",
    "TokenRecord",
    "TokenRefresher",
    "TokenRepository",
    "UnitOfWork",
    "fingerprint",
    "refresh_under_lock",
    "store_issued",
]
