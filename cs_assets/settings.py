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


# Settings `make demo` leaves under $CS_HOME, so `make ui` and every later command see the
# demo's days: variable -> file name.
HOME_SETTINGS = {"CS_REFERENCE_TIME": "reference_time", "CS_PARTITIONS_START": "partitions_start"}


def home_setting(key: str, env: Mapping[str, str] = os.environ) -> str:
    """The variable `key`, else the value the demo left in `$CS_HOME/<file>`, else ""."""
    value = env.get(key, "").strip()
    path = cs_home(env) / HOME_SETTINGS[key]
    if not value and path.is_file():
        value = path.read_text(encoding="utf-8").strip()
    return value


def keep_home_setting(key: str, value: str, env: Mapping[str, str] = os.environ) -> None:
    """Keep `value` for `key` under $CS_HOME (and in this process's environment)."""
    os.environ[key] = value
    path = cs_home(env) / HOME_SETTINGS[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value, encoding="utf-8")


def reference_setting(env: Mapping[str, str] = os.environ) -> str:
    """The platform clock's setting: CS_REFERENCE_TIME or the demo's, else "" (the wall
    clock, production's)."""
    return home_setting("CS_REFERENCE_TIME", env)


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
