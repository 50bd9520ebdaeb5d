"""The store's errors, placed in the project's one error tree (:mod:`worker.errors`)::

    SiplineError
    ├── ConfigurationError
    │   ├── StoreKeyError        no SIPLINE_STORE_KEY for a store holding secrets, or the
    │   │                        wrong one: the process must not start (exit 2)
    │   └── StoreSchemaError     the store's schema is newer than this code, or behind it
    │                            while automatic upgrades are off
    ├── TransientError
    │   └── StoreUnavailable     the database cannot be reached or is busy: retry later
    └── StoreError               a request the store refuses for good
        ├── PortalExists
        └── PortalNotFound

Messages name domains, paths with passwords masked, and revisions; never a secret.
"""

from __future__ import annotations

from worker.errors import ConfigurationError, SiplineError, TransientError


class StoreError(SiplineError):
    """A store request that cannot succeed as asked (retrying would not help)."""

    code = "STORE_ERROR"


class PortalExists(StoreError):
    """``portals add`` of a domain the registry already holds."""

    code = "PORTAL_EXISTS"


class PortalNotFound(StoreError):
    """A portal the registry does not hold."""

    code = "PORTAL_NOT_FOUND"


class StoreKeyError(ConfigurationError):
    """The store's secrets cannot be read or written with the configured key."""

    code = "STORE_KEY"


class StoreSchemaError(ConfigurationError):
    """The store's schema does not match what this code can work with."""

    code = "STORE_SCHEMA"


class StoreUnavailable(TransientError):
    """The database did not answer, or stayed locked past the busy timeout."""

    code = "STORE_UNAVAILABLE"
