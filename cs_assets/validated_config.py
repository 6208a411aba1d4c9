"""Building blocks of the validated YAML configuration files (scorecard, segments, VoC):
strict pydantic models whose errors name the offending key path."""

from __future__ import annotations

from itertools import pairwise

from pydantic import BaseModel, ConfigDict


class Violation(ValueError):
    """A cross-field rule broken inside one model. `key` is the offending field (None: the model
    itself); `@name` in the message refers to a sibling field and is expanded to its full path."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def ascending(model: BaseModel, *keys: str, strict: bool = True) -> None:
    """Require the fields' values to increase left to right (or not decrease if not strict)."""
    for low, high in pairwise(keys):
        a, b = getattr(model, low), getattr(model, high)
        if a > b or (strict and a == b):
            raise Violation(low, f"must be {'<' if strict else '<='} @{high}, got {a:g} and {b:g}")


class StrictModel(BaseModel):
    """No unknown keys, no type coercion, immutable: a typo in the YAML is an error."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


def describe_error(error: dict) -> str:
    """One pydantic error as `key.path: message`, cross-field rules pointing at their key."""
    loc = [str(part) for part in error["loc"]]
    violation = error.get("ctx", {}).get("error")
    if not isinstance(violation, Violation):
        return f"{'.'.join(loc) or '<root>'}: {error['msg']}"
    parent = "".join(f"{part}." for part in loc)
    path = parent + violation.key if violation.key else ".".join(loc)
    return f"{path}: {violation.message.replace('@', parent)}"
