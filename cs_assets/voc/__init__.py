"""Voice of the customer: survey eligibility, NPS comment themes and product escalations.

Pure logic (polars, no Dagster). Settings come from `cs_assets/config/voc.yaml`, validated
at load like the scorecard: a bad value is an error naming its key path.
"""

from __future__ import annotations

from pathlib import Path

from cs_assets.validated_config import StrictModel, load_model, parse_model
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
    """Validate a mapping (as read from YAML); raise VocConfigError naming the keys."""
    return parse_model(VocConfig, data, VocConfigError, "voc config")


def load_voc_config(path: str | Path | None = None) -> VocConfig:
    """Load and validate the YAML file (the shipped one by default)."""
    return load_model(VocConfig, path, DEFAULT_VOC_PATH, VocConfigError, "voc config")


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
