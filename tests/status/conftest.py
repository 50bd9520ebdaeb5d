from tests.store.conftest import Backend, backend, store  # noqa: F401
