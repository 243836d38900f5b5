"""The README's configuration table names every config key, and no key that is not one."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from appliance.config import Config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_configuration_table_names_every_key() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {key for row in rows for key in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])}
    assert named == {f.name for f in fields(Config)}
