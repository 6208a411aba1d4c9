"""Segmentation: behavioral micro-segments (`segments.micro`) and customer journey stages with
their transition history (`segments.journey`). Pure polars, no Dagster; assets wrap these.

This module holds their cut-offs: one validated YAML file (`cs_assets/config/segments.yaml`)
with the spec's values as defaults, so `SegmentConfig()` and the shipped file agree. A wrong
value is an error at load time naming the key path, as for the scorecard. Thresholds named
`*_above` are strict (>), `*_at_least` is >=, `*_at_most` is <=.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from cs_assets.settings import ConfigError
from cs_assets.validated_config import (
    ConfigFile,
    StrictModel,
    ascending,
)


class SegmentConfigError(ConfigError):
    """The segments file is missing, unreadable or invalid; the message names the key path."""


class Lifecycle(StrictModel):
    """Last day since signup (inclusive) of each early stage. The spec uses 30 / 90 / 365 both
    for the micro-segment lifecycle label and for the journey stages, so they share them."""

    onboarding_days_at_most: int = Field(30, ge=0)
    adoption_days_at_most: int = Field(90, ge=0)
    growth_days_at_most: int = Field(365, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "onboarding_days_at_most", "adoption_days_at_most",
                   "growth_days_at_most")
        return self


class UsageIntensity(StrictModel):
    """DAU/WAU ratio cut-offs: Power, Regular, Casual User; Dormant below."""

    power_at_least: float = Field(0.8, ge=0, le=1)
    regular_at_least: float = Field(0.5, ge=0, le=1)
    casual_at_least: float = Field(0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "casual_at_least", "regular_at_least", "power_at_least")
        return self


class Collaboration(StrictModel):
    """Share of members active in 30 days: Full, Partial Household."""

    full_at_least: float = Field(0.8, ge=0, le=1)
    partial_at_least: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "partial_at_least", "full_at_least")
        return self


class FeatureSophistication(StrictModel):
    """Advanced: enough Premium features in use; else Intermediate: enough distinct features."""

    advanced_premium_features_at_least: int = Field(3, ge=1)
    intermediate_features_at_least: int = Field(2, ge=1)


class ValuePerception(StrictModel):
    """Latest NPS answer (0–10): Advocate, Satisfied, Neutral; Detractor below."""

    advocate_at_least: int = Field(9, ge=0, le=10)
    satisfied_at_least: int = Field(7, ge=0, le=10)
    neutral_at_least: int = Field(5, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "neutral_at_least", "satisfied_at_least", "advocate_at_least")
        return self


class SupportDependency(StrictModel):
    """Tickets per month: High Touch above `high_above`, Medium Touch from `medium_at_least`."""

    high_above: float = Field(3, ge=0)
    medium_at_least: float = Field(1, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "medium_at_least", "high_above", strict=False)
        return self


class MicroSegments(StrictModel):
    usage_intensity: UsageIntensity = UsageIntensity()
    collaboration: Collaboration = Collaboration()
    feature_sophistication: FeatureSophistication = FeatureSophistication()
    value_perception: ValuePerception = ValuePerception()
    support_dependency: SupportDependency = SupportDependency()


class Advocacy(StrictModel):
    """Any one makes an advocate: referrals in 90 days, good reviews written, or a high NPS
    after `nps_days_above` days. Reviews count from `review_min_rating` stars: a 1-star review
    is no advocacy (the spec counts any review)."""

    referrals_90d_at_least: int = Field(2, ge=1)
    reviews_at_least: int = Field(1, ge=1)
    review_min_rating: int = Field(4, ge=1, le=5)
    nps_at_least: int = Field(9, ge=0, le=10)
    nps_days_above: int = Field(180, ge=0)


class Journey(StrictModel):
    advocacy: Advocacy = Advocacy()
    retention_dau_wau_at_least: float = Field(0.4, ge=0, le=1)
    adoption_logins_per_week_at_least: float = Field(3, ge=0)


class SegmentConfig(StrictModel):
    lifecycle: Lifecycle = Lifecycle()
    micro: MicroSegments = MicroSegments()
    journey: Journey = Journey()


SEGMENTS_CONFIG = ConfigFile(
    SegmentConfig, "segments.yaml", "CS_SEGMENTS", SegmentConfigError, "segments config"
)
parse_segment_config = SEGMENTS_CONFIG.parse
load_segment_config = SEGMENTS_CONFIG.load
DEFAULT_SEGMENTS_PATH = SEGMENTS_CONFIG.default_path


