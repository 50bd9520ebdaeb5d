"""The publisher and configuration docs cover everything the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

from pydantic import Field

from contracts import CommandRejectedData, LineUpdated, Verdict
from worker.cli.docs import configuration_markdown
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (ROOT / "docs" / "contracts.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_every_verdict_is_explained() -> None:
    table = _section(CONTRACTS, "Verdicts")
    for verdict in Verdict:
        assert f"| `{verdict.value}` |" in table


def test_every_rejection_reason_is_explained() -> None:
    table = _section(CONTRACTS, "Rejections and failures")
    reasons = get_args(CommandRejectedData.model_fields["reason"].annotation)
    assert reasons
    for reason in reasons:
        assert f"| `{reason}` |" in table


def test_the_publisher_essentials_are_there() -> None:
    for phrase in (
        "sipline.commands",
        "sipline.events",
        "application/cloudevents+json",
        "idempotency key",
        "in the order they arrive",
        "publisher confirms",
        "mandatory",
        "persistent",
        "urn:sipline:schema:line.create:v1",
    ):
        assert phrase in CONTRACTS


def test_every_json_example_parses_and_the_python_example_compiles() -> None:
    blocks = _fenced(CONTRACTS, "json")
    assert len(blocks) == 15  # one per message type, and a rename in line.updated
    for block in blocks:
        assert json.loads(block)["specversion"] == "1.0"
    renames = [b for b in blocks if '"changed_fields": ["title"]' in b]
    assert [LineUpdated.model_validate_json(b).data.title for b in renames] == [
        "Office SIP trunk (backup)"
    ]
    (python,) = _fenced(CONTRACTS, "python")
    compile(python, "docs/contracts.md", "exec")


def test_linked_schema_files_exist() -> None:
    links = re.findall(r"\]\(\.\./(contracts/schemas/[^)]+)\)", CONTRACTS)
    assert len(links) == 14
    for link in links:
        assert (ROOT / link).is_file(), link


def test_configuration_lists_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"`SIPLINE_{name.upper()}`" in CONFIGURATION
    assert "`VOXIMPLANT_CREDENTIALS`" in CONFIGURATION
    (example,) = re.findall(r"SIPLINE_PORTALS='(.*)'", CONFIGURATION)
    portals = Settings.model_validate({"portals": json.loads(example)}).portals
    assert {p.webhook_url is not None for p in portals.values()} == {True, False}


def test_a_new_setting_shows_up_without_touching_the_generator() -> None:
    class Extended(Settings):
        brand_new_knob: int = Field(default=7, ge=1, description="A knob added later.")

    text = configuration_markdown(Extended)
    row = next(line for line in text.splitlines() if "`SIPLINE_BRAND_NEW_KNOB`" in line)
    assert "integer (≥ 1)" in row
    assert "`7`" in row
    assert "A knob added later." in row
