"""Settings every layer reads: where the embedded default lives, the reference time, and the
error a bad setting raises (its message names the variable or key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path


class ConfigError(ValueError):
    """A setting is wrong; the message names the environment variable or key."""


def cs_home(env: Mapping[str, str] = os.environ) -> Path:
    """Root of everything the embedded default writes (raw data, outputs, instance, MLflow)."""
    return Path(env.get("CS_HOME", ".cs_home")).expanduser().resolve()


def default_state_url(env: Mapping[str, str] = os.environ) -> str:
    """The embedded default's state database: SQLite under $CS_HOME."""
    path = cs_home(env) / "state.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


REFERENCE_FILE = "reference_time"


def reference_setting(env: Mapping[str, str] = os.environ) -> str:
    """The platform clock: CS_REFERENCE_TIME, else the reference time the demo left in
    `$CS_HOME/reference_time` (so `make ui` after `make demo` sees the demo's day), else ""
    (the wall clock, production's)."""
    value = env.get("CS_REFERENCE_TIME", "").strip()
    path = cs_home(env) / REFERENCE_FILE
    if not value and path.is_file():
        value = path.read_text(encoding="utf-8").strip()
    return value


def parse_reference_time(value: str, key: str = "CS_REFERENCE_TIME") -> datetime:
    """An ISO date or instant; naive values are UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: not an ISO date or timestamp: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def platform_now(env: Mapping[str, str] = os.environ) -> datetime:
    """The platform clock: the reference time when one is set (the demo's), else the wall
    clock. Read at each call, so moving the clock needs no reload of the code."""
    value = reference_setting(env)
    return parse_reference_time(value) if value else datetime.now(UTC)
