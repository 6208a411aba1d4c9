"""Voice of the customer: survey eligibility, NPS comment themes and product escalations.

Pure logic (polars, no Dagster). Settings come from `cs_assets/config/voc.yaml`, validated
at load like the scorecard: a bad value is an error naming its key path.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from cs_assets.validated_config import StrictModel, describe_error
from cs_assets.voc.surveys import SURVEY_COLUMNS, SurveyConfig, survey_eligibility
from cs_assets.voc.themes import (
    ESCALATION_COLUMNS,
    THEME_COLUMNS,
    ThemeConfig,
    feedback_escalations,
    nps_themes,
)

DEFAULT_VOC_PATH = Path(__file__).resolve().parent.parent / "config" / "voc.yaml"


class VocConfigError(ValueError):
    """The VoC config is missing, unreadable or invalid; the message names the key path."""


class VocConfig(StrictModel):
    surveys: SurveyConfig = SurveyConfig()
    themes: ThemeConfig = ThemeConfig()


def parse_voc_config(data: object) -> VocConfig:
    """Validate a VoC config mapping (as read from YAML); raise VocConfigError naming keys."""
    if not isinstance(data, dict):
        raise VocConfigError(f"voc config must be a mapping of sections, got "
                             f"{type(data).__name__}")
    try:
        return VocConfig.model_validate(data)
    except ValidationError as exc:
        raise VocConfigError("; ".join(describe_error(e) for e in exc.errors())) from None


def load_voc_config(path: str | Path | None = None) -> VocConfig:
    """Load and validate the VoC YAML (the shipped one by default)."""
    path = Path(path) if path is not None else DEFAULT_VOC_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VocConfigError(f"cannot read voc config {path}: {exc}") from exc
    try:
        return parse_voc_config(data)
    except VocConfigError as exc:
        raise VocConfigError(f"{path}: {exc}") from None


__all__ = [
    "DEFAULT_VOC_PATH",
    "ESCALATION_COLUMNS",
    "SURVEY_COLUMNS",
    "THEME_COLUMNS",
    "SurveyConfig",
    "ThemeConfig",
    "VocConfig",
    "VocConfigError",
    "feedback_escalations",
    "load_voc_config",
    "nps_themes",
    "parse_voc_config",
    "survey_eligibility",
]
