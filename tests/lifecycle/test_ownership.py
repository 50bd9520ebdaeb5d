"""The AMQP connection is owned by the application's exit stack like every other resource
(issue 9, item 19): opened on entry, used by the worker, closed on exit, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.amqp_helpers import broker, unique_prefix
from tests.runtime.conftest import runtime_settings
from worker.bootstrap import application
from worker.runtime.wiring import topology_spec
from worker.sandbox.voximplant import ensure_service_account


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ensure_service_account(
        tmp_path_factory.mktemp("vox"), account_id=1, account_email="ops@example.com"
    )
    return key.credentials_path


async def test_the_exit_stack_opens_and_closes_the_workers_connection(credentials: Path) -> None:
    settings = runtime_settings(unique_prefix("own"), voximplant_credentials=credentials)
    async with broker(settings.topology_prefix, topology_spec(settings)):
        async with application(settings) as app:
            connection = app.connection
            assert not connection.is_closed  # open before the worker runs
            task = asyncio.create_task(app.worker.run())
            await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
            app.worker.stop()
            await asyncio.wait_for(task, timeout=30)
            assert not connection.is_closed, "the worker closed a connection it does not own"
        assert connection.is_closed
