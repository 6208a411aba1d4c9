"""Voice of the customer: survey eligibility, NPS comment themes and product escalations.

Pure logic (polars, no Dagster). Settings come from `cs_assets/config/voc.yaml`, validated
at load like the scorecard: a bad value is an error naming its key path.
"""

from __future__ import annotations

from cs_assets.settings import ConfigError
from cs_assets.validated_config import ConfigFile, StrictModel
from cs_assets.voc.surveys import SURVEY_COLUMNS, SurveyConfig, survey_eligibility
from cs_assets.voc.themes import (
    ESCALATION_COLUMNS,
    THEME_COLUMNS,
    ThemeConfig,
    feedback_escalations,
    nps_themes,
)


class VocConfigError(ConfigError):
    """The VoC config is missing, unreadable or invalid; the message names the key path."""


class VocConfig(StrictModel):
    surveys: SurveyConfig = SurveyConfig()
    themes: ThemeConfig = ThemeConfig()


VOC_CONFIG = ConfigFile(VocConfig, "voc.yaml", "CS_VOC", VocConfigError, "voc config")
parse_voc_config = VOC_CONFIG.parse
load_voc_config = VOC_CONFIG.load
DEFAULT_VOC_PATH = VOC_CONFIG.default_path


__all__ = [
    "DEFAULT_VOC_PATH",
    "ESCALATION_COLUMNS",
    "SURVEY_COLUMNS",
    "THEME_COLUMNS",
    "VOC_CONFIG",
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
