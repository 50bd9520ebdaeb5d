"""The install flow and OAuth shared by processes run on both store backends, for real."""

from tests.store.conftest import Backend, backend, store

__all__ = ["Backend", "backend", "store"]
