"""Shared helpers for the config tests (no tests here): the sample fixture, UUIDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganeti.objects import ConfigData

FIXTURE = Path(__file__).parent / "fixtures" / "config_sample.json"


def U(n: int) -> str:
    """The fixture's readable UUIDs."""
    return f"00000000-0000-4000-8000-{n:012d}"


def sample_dict() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def sample_config() -> ConfigData:
    return ConfigData.from_dict(sample_dict())
