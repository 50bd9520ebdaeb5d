"""``sipline portals``: the registry through the real executable, with a canary secret that
must never appear in any output, nor in clear in the database."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from tests.store.cli_helpers import invoke, store_env
from tests.store.conftest import Backend
from worker.adapters.store import generate_key, open_store
from worker.adapters.store.tables import oauth_tokens, portals

CANARY = f"canary{uuid.uuid4().hex}"
HOOK = f"https://hook.bitrix24.test/rest/1/{CANARY}/"


def test_add_list_show_set_remove_never_print_a_secret(backend: Backend) -> None:
    env = store_env(
        backend,
        HOOK_URL=HOOK,
        APP_SECRET=f"{CANARY}secret",
        APP_ACCESS=f"{CANARY}access",
        APP_REFRESH=f"{CANARY}refresh",
    )
    outputs: list[str] = []

    def run(*args: str, code: int = 0) -> str:
        result = invoke(backend, "portals", *args, env=env)
        outputs.extend([result.stdout, result.stderr])
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    run("add", "hook.bitrix24.test", "--webhook-url-env", "HOOK_URL", "--plan", "enterprise")
    run(
        "add",
        "App.Bitrix24.Test",
        "--oauth",
        "--client-id",
        "local.123",
        "--client-secret-env",
        "APP_SECRET",
        "--access-token-env",
        "APP_ACCESS",
        "--refresh-token-env",
        "APP_REFRESH",
        "--bucket",
        "100/3",
        "--repair",
        "repair",
    )
    run("add", "hook.bitrix24.test", "--webhook-url-env", "HOOK_URL", code=1)
    listed = json.loads(run("list", "--json"))
    assert [p["domain"] for p in listed] == ["app.bitrix24.test", "hook.bitrix24.test"]
    app, hook = listed
    assert (app["auth"], app["bucket"], app["plan"], app["repair_policy"]) == (
        "oauth",
        "100/3",
        "custom",
        "repair",
    )
    assert app["client_secret"] == "set"
    assert hook["webhook_url"] == "https://hook.bitrix24.test/rest/1/***/"
    assert hook["bucket"] == "250/5"
    table = run("list")
    assert "hook.bitrix24.test" in table
    assert "app.bitrix24.test" in table
    shown = json.loads(run("show", "app.bitrix24.test", "--json"))
    assert shown["tokens"]["generation"] == 1
    assert shown["tokens"]["refresh_token"] == "set"
    run("show", "app.bitrix24.test")
    run("set", "hook.bitrix24.test", "--disable", "--bucket", "10/1", "--sweep-interval", "60")
    changed = json.loads(run("show", "hook.bitrix24.test", "--json"))
    assert (changed["enabled"], changed["bucket"], changed["sweep_interval"]) == (False, "10/1", 60)
    assert changed["version"] > hook["version"]
    run("set", "hook.bitrix24.test", "--client-id", "x", code=2)  # a webhook portal
    run("set", "nowhere.bitrix24.test", "--enable", code=1)
    run("remove", "app.bitrix24.test")
    run("remove", "app.bitrix24.test", code=1)
    run("show", "app.bitrix24.test", code=1)
    assert [p["domain"] for p in json.loads(run("list", "--json"))] == ["hook.bitrix24.test"]
    leaks = [text for text in outputs if CANARY in text]
    assert leaks == []


def test_bad_options_exit_2_without_echoing_the_secret(tmp_path: Path) -> None:
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'store.db'}", None, generate_key())
    env = store_env(backend, HOOK_URL=f"https://other.test/rest/1/{CANARY}/")
    cases = [
        ("add", "x.bitrix24.test", "--webhook-url-env", "HOOK_URL", "--oauth"),  # both
        ("add", "x.bitrix24.test", "--webhook-url", f"https://x.bitrix24.test/{CANARY}"),
        ("add", "x.bitrix24.test"),  # neither webhook nor oauth
        ("add", "x.bitrix24.test", "--oauth", "--client-id", "a"),  # no secret
        ("add", "x.bitrix24.test", "--webhook-url-env", "UNSET_VARIABLE_NAME"),
        ("add", "x.bitrix24.test", "--webhook-url-env", "HOOK_URL", "--bucket", "fast"),
        ("add", "not a domain", "--webhook-url-env", "HOOK_URL"),
    ]
    for args in cases:
        result = invoke(backend, "portals", *args, env=env)
        assert result.exit_code == 2, (args, result.stderr)
        assert CANARY not in result.stdout + result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr


def test_the_database_holds_no_secret_in_clear(backend: Backend) -> None:
    env = store_env(backend, HOOK_URL=HOOK)
    added = invoke(
        backend, "portals", "add", "hook.bitrix24.test", "--webhook-url-env", "HOOK_URL", env=env
    )
    assert added.exit_code == 0, added.stderr

    async def raw() -> tuple[list[str], Path | None]:
        async with open_store(backend.settings()) as store, store.engine.connect() as conn:
            tables = (portals, oauth_tokens)
            rows = [str(tuple(r)) for t in tables for r in (await conn.execute(select(t))).all()]
            return rows, store.location.path

    rows, path = asyncio.run(raw())
    assert rows
    assert not [row for row in rows if CANARY in row]
    if path is not None:
        for file in path.parent.glob(path.name + "*"):
            assert CANARY.encode() not in file.read_bytes()


def test_the_repair_policy_and_account_ownership_options(tmp_path: Path) -> None:
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'store.db'}", None, generate_key())
    env = store_env(backend, HOOK_URL=HOOK)

    def run(*args: str, code: int = 0) -> str:
        result = invoke(backend, "portals", *args, env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    def policy() -> tuple[object, object, object]:
        shown = json.loads(run("show", "hook.bitrix24.test", "--json"))
        return shown["repair_policy"], shown["repair_budget"], shown["owns_voximplant_account"]

    run(
        "add",
        "hook.bitrix24.test",
        "--webhook-url-env",
        "HOOK_URL",
        "--repair-policy",
        "repair",
        "--repair-budget",
        "2",
        "--owns-voximplant-account",
    )
    assert policy() == ("repair", 2, True)
    run("set", "hook.bitrix24.test", "--no-owns-voximplant-account", "--repair-policy", "observe")
    assert policy() == ("observe", 2, False)
    run("set", "hook.bitrix24.test", "--repair-budget", "-1", code=2)
    run("set", "hook.bitrix24.test", "--repair-policy", "fix", code=2)


def test_a_portal_registered_with_its_member_id(tmp_path: Path) -> None:
    """``--member-id``: the first install must come from that Bitrix24 account (the install
    route's side: tests/oauth/test_install_route.py)."""
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'store.db'}", None, generate_key())
    env = store_env(backend, HOOK_URL=HOOK, APP_SECRET="app-secret")

    def run(*args: str, code: int = 0) -> str:
        result = invoke(backend, "portals", *args, env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    def member(domain: str) -> object:
        return json.loads(run("show", domain, "--json"))["member_id"]

    oauth = ["--oauth", "--client-id", "local.1", "--client-secret-env", "APP_SECRET"]
    run("add", "app.bitrix24.test", *oauth, "--member-id", "a1b2c3d4e5f6")
    assert member("app.bitrix24.test") == "a1b2c3d4e5f6"
    run("set", "app.bitrix24.test", "--member-id", "0f0f0f0f")
    assert member("app.bitrix24.test") == "0f0f0f0f"
    run("add", "other.bitrix24.test", *oauth, "--member-id", "not a member id", code=2)
    run("add", "hook.bitrix24.test", "--webhook-url-env", "HOOK_URL", "--member-id", "ab", code=2)

    async def installed() -> None:
        async with open_store(backend.settings()) as store, store.unit_of_work() as uow:
            record = await uow.portals.get("app.bitrix24.test")
            assert record is not None
            await uow.portals.update(replace(record, application_token=SecretStr("t")))
            await uow.commit()

    asyncio.run(installed())
    run("set", "app.bitrix24.test", "--member-id", "a1b2c3d4e5f6", code=2)
    assert member("app.bitrix24.test") == "0f0f0f0f"


def test_a_portal_needing_reauthorisation_is_shown_and_new_tokens_clear_it(
    backend: Backend,
) -> None:
    env = store_env(
        backend,
        APP_SECRET=f"{CANARY}secret",
        APP_ACCESS=f"{CANARY}access",
        APP_REFRESH=f"{CANARY}refresh",
        NEW_ACCESS=f"{CANARY}newaccess",
        NEW_REFRESH=f"{CANARY}newrefresh",
    )

    def run(*args: str) -> str:
        result = invoke(backend, "portals", *args, env=env)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert CANARY not in result.stdout + result.stderr
        return result.stdout

    secret = ("--client-id", "local.1", "--client-secret-env", "APP_SECRET")
    tokens = ("--access-token-env", "APP_ACCESS", "--refresh-token-env", "APP_REFRESH")
    run("add", "lost.bitrix24.test", "--oauth", *secret, *tokens)
    assert "REAUTHORIZE" not in run("list")

    async def mark() -> None:
        async with open_store(backend.settings()) as store, store.unit_of_work() as uow:
            await uow.tokens.require_reauth(
                "lost.bitrix24.test", reason="refresh_lost", detail="the pair was lost in flight"
            )
            await uow.commit()

    asyncio.run(mark())
    assert "REAUTHORIZE (refresh_lost)" in run("list")
    (listed,) = json.loads(run("list", "--json"))
    assert listed["reauthorization"]["reason"] == "refresh_lost"
    shown = run("show", "lost.bitrix24.test")
    assert "NEEDS AUTHORISING AGAIN" in shown
    assert "the pair was lost in flight" in shown
    assert "sipline dlq replay --reason reauthorization_required" in shown
    run(
        "set",
        "lost.bitrix24.test",
        "--access-token-env",
        "NEW_ACCESS",
        "--refresh-token-env",
        "NEW_REFRESH",
    )
    assert "REAUTHORIZE" not in run("list")
    assert json.loads(run("show", "lost.bitrix24.test", "--json"))["reauthorization"] is None
