"""The models accept Bitrix24's numbers-as-strings and never show secrets."""

from __future__ import annotations

from worker.adapters.bitrix24 import ConnectorStatus, SipLine, SipStatus

SECRET = "CANARY-model-pw"


def test_line_from_sip_get_strings() -> None:
    line = SipLine.model_validate(
        {
            "ID": "3",
            "CONFIG_ID": "101",
            "TYPE": "CLOUD",
            "REG_ID": "150907",
            "TITLE": "t",
            "SERVER": "sip.example.net",
            "LOGIN": 100,
            "PASSWORD": SECRET,
            "REGISTRATION_STATUS_CODE": "",
            "SOMETHING_NEW": SECRET,
        }
    )
    assert (line.config_id, line.reg_id, line.line_type, line.login) == (
        101,
        150907,
        "cloud",
        "100",
    )
    assert line.registration_status_code is None
    assert line.password is not None
    assert line.password.get_secret_value() == SECRET
    for text in (repr(line), str(line), line.model_dump_json()):
        assert SECRET not in text
        assert "sip.example.net" not in repr(line)


def test_office_line_without_reg_id() -> None:
    line = SipLine.model_validate({"CONFIG_ID": 5, "TYPE": "office", "REG_ID": None})
    assert line.reg_id is None
    assert line.line_type == "office"


def test_status_and_connector() -> None:
    status = SipStatus.model_validate(
        {"REG_ID": "7", "STATUS_RESULT": "SUCCESS", "STATUS_CODE": "200", "ERROR_MESSAGE": None}
    )
    assert (status.reg_id, status.status_code, status.status_result, status.error_message) == (
        7,
        200,
        "success",
        "",
    )
    assert SipStatus.model_validate({"REG_ID": 7, "STATUS_RESULT": "WAIT"}).status_result == "wait"
    paid = ConnectorStatus.model_validate(
        {"FREE_MINUTES": "10", "PAID": "Y", "PAID_DATE_END": "2025-01-01T00:00:00+03:00"}
    )
    assert paid.paid
    assert paid.free_minutes == 10
    assert paid.paid_date_end is not None
    unpaid = ConnectorStatus.model_validate({"FREE_MINUTES": 0, "PAID": "N", "PAID_DATE_END": ""})
    assert not unpaid.paid
    assert unpaid.paid_date_end is None
