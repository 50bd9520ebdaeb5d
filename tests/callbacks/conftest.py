from tests.sandbox.conftest import receiver, rsa_key, session  # noqa: F401
from tests.store.conftest import Backend, backend, store  # noqa: F401
