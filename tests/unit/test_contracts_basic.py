"""The contract's models accept what publishers send and refuse what they must not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import COMMANDS, LineCreate, LineUpdate

CANARY = "CANARY-pw-7f3a"


def _create(**data: object) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": "c-1",
        "type": "line.create",
        "source": "urn:test",
        "portal": "Example.Bitrix24.ru",
        "data": {"title": "t", "server": "sip.example.net", "login": "100", **data},
    }


def test_password_is_masked_everywhere_but_the_wire() -> None:
    cmd = LineCreate.model_validate(_create(password=CANARY))
    assert cmd.portal == "example.bitrix24.ru"
    assert CANARY not in repr(cmd)
    assert CANARY not in str(cmd)
    assert CANARY not in cmd.model_dump_json()
    assert CANARY in cmd.wire_json().decode()
    assert LineCreate.model_validate_json(cmd.wire_json()) == cmd


def test_update_needs_at_least_one_field() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        LineUpdate.model_validate(
            {
                "id": "u",
                "type": "line.update",
                "source": "s",
                "portal": "a.b",
                "data": {"config_id": 1},
            }
        )


def test_unknown_data_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="pasword"):
        LineCreate.model_validate(_create(password="x", pasword="typo"))


def test_every_command_type_is_registered() -> None:
    assert set(COMMANDS) == {
        "line.create",
        "line.update",
        "line.delete",
        "line.reconcile",
        "portal.sweep",
    }
