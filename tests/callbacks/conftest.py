from tests.observability.conftest import captured_logs  # noqa: F401
from tests.sandbox.conftest import receiver, rsa_key, session  # noqa: F401
from tests.store.conftest import Backend, backend, store  # noqa: F401
