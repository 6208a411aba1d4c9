"""The validated YAML configuration files (scorecard, segments, lists, team, VoC, playbooks):
strict pydantic models whose errors name the offending key path, and `ConfigFile`, the one way
each of them is found, read and validated."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cs_assets.settings import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "config"


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


class UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a repeated mapping key instead of keeping the last one: two
    playbooks with one name, or any key given twice in a config, is an error, not a silently
    dropped value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]`: no config has one
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain name, not a list or mapping",
                    key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


class TextKeyLoader(UniqueKeyLoader):
    """UniqueKeyLoader whose mapping keys are the text as written, for files keyed by a
    product's own names: `on:`, `no:` or `404:` are event names, not booleans or numbers."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, error: type[Exception], what: str,
              loader: type[yaml.SafeLoader] = UniqueKeyLoader) -> object:
    """The YAML file's data; an unreadable file, bad YAML or a repeated key is `error`."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: object, error: type[Exception], what: str) -> M:
    """Validate a mapping read from YAML as `model`; raise `error` naming the bad keys."""
    if not isinstance(data, dict):
        raise error(f"{what} must be a mapping of sections, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error("; ".join(describe_error(e) for e in exc.errors())) from None


@dataclass(frozen=True)
class ConfigFile(Generic[M]):
    """One configuration file: its model, the shipped file under `cs_assets/config`, the
    environment variable that points at another, and the error its problems raise."""

    model: type[M]
    file_name: str
    env_key: str
    error: type[ConfigError]
    what: str

    @property
    def default_path(self) -> Path:
        return CONFIG_DIR / self.file_name

    def parse(self, data: object) -> M:
        """Validate a mapping (as read from YAML); the error names the keys."""
        return parse_model(self.model, data, self.error, self.what)

    def load(self, path: str | Path | None = None) -> M:
        """Read and validate the file (the shipped one when `path` is None or empty); errors
        name the file and the keys."""
        path = Path(path) if path else self.default_path
        data = read_yaml(path, self.error, self.what)
        try:
            return self.parse(data)
        except self.error as exc:
            raise self.error(f"{path}: {exc}") from None
