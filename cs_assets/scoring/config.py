"""The scorecard: every weight, threshold and point value of the health model in one validated
YAML file (`cs_assets/config/scorecard.yaml`) that CS ops can tune without touching code.

Defaults are the spec's values, so the shipped file and `Scorecard()` are the same scorecard.
Points are signed (a penalty is negative) so the file reads like the effect it has. A wrong value
is an error at load time that names the key path, e.g. `tiers.critical_below: must be < ...`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import PLANS
from cs_assets.settings import ConfigError
from cs_assets.validated_config import (
    ConfigFile,
    StrictModel,
    Violation,
    ascending,
)

WEIGHT_TOLERANCE = 1e-6


class ScorecardError(ConfigError):
    """The scorecard file is missing, unreadable or invalid; the message names the key path."""


def _sum_to_one(total: float) -> None:
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise Violation(None, f"weights must sum to 1.0, got {total:.6g}")


class Windows(StrictModel):
    """Day windows the features are computed over; scoring quotes them in reasons."""

    trend_days: int = Field(30, gt=0)
    trend_previous_days: int = Field(30, gt=0)
    lookback_days: int = Field(90, gt=0)


class HealthWeights(StrictModel):
    """Weights of the component scores in the overall health score; `support` weighs the support
    rule of the model using them (engagement rule for the new score, old rule for the old)."""

    product_usage: float = Field(0.25, ge=0)
    feature_adoption: float = Field(0.15, ge=0)
    support: float = Field(0.10, ge=0)
    engagement: float = Field(0.10, ge=0)
    payment: float = Field(0.10, ge=0)
    value_delivery: float = Field(0.30, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _sum_to_one(sum(self.model_dump().values()))
        return self


OLD_HEALTH_WEIGHTS = HealthWeights(
    product_usage=0.40, feature_adoption=0.20, support=0.15, engagement=0.15, payment=0.10,
    value_delivery=0.0,
)


class Part(StrictModel):
    """One measured part of a continuous component: its share of the score and the value that
    earns the full share (scaled linearly below it, capped at it)."""

    weight: float = Field(ge=0)
    target: float = Field(gt=0)


class ProductUsage(StrictModel):
    """Activity in the last 30 days: active days, logins, session length."""

    active_days: Part = Part(weight=0.5, target=20)
    logins: Part = Part(weight=0.3, target=20)
    session_minutes: Part = Part(weight=0.2, target=10)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _sum_to_one(sum(part.weight for part in (self.active_days, self.logins,
                                                 self.session_minutes)))
        return self


class FeatureAdoption(StrictModel):
    """Distinct core features used in the last 90 days; `core_features_target` earns 100."""

    core_features_target: int = Field(5, gt=0)


class Recency(StrictModel):
    """Days since last login: full share within `full_within_days`, none from `zero_after_days`."""

    weight: float = Field(0.3, ge=0)
    full_within_days: int = Field(7, ge=0)
    zero_after_days: int = Field(30, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "full_within_days", "zero_after_days")
        return self


class Engagement(StrictModel):
    """How habitual and shared the use is: DAU/WAU, share of members active, login recency."""

    stickiness: Part = Part(weight=0.4, target=0.5)
    active_members: Part = Part(weight=0.3, target=1.0)
    recency: Recency = Recency()

    @model_validator(mode="after")
    def _check(self) -> Self:
        _sum_to_one(self.stickiness.weight + self.active_members.weight + self.recency.weight)
        return self


class PaymentHealth(StrictModel):
    """Penalties from 100: the current status, then the 90-day payment history."""

    past_due_points: float = Field(-25, le=0)
    failed_points: float = Field(-50, le=0)
    failed_payment_points: float = Field(-10, le=0)
    failed_payments_floor: float = Field(-30, le=0)
    late_payment_points: float = Field(-5, le=0)
    late_payments_floor: float = Field(-15, le=0)
    overdue_points: float = Field(-20, le=0)


class TaskTrend(StrictModel):
    """Task-completion trend bands (strict inequalities, strongest band checked first)."""

    strong_growth_above: float = Field(0.30, gt=0)
    strong_growth_points: float = Field(30, ge=0)
    growth_above: float = Field(0.10, gt=0)
    growth_points: float = Field(15, ge=0)
    decline_below: float = Field(-0.10, lt=0)
    decline_points: float = Field(-15, le=0)
    strong_decline_below: float = Field(-0.30, lt=0)
    strong_decline_points: float = Field(-30, le=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "strong_decline_below", "decline_below")
        ascending(self, "growth_above", "strong_growth_above")
        ascending(self, "strong_decline_points", "decline_points", strict=False)
        ascending(self, "growth_points", "strong_growth_points", strict=False)
        return self


class Tiered(StrictModel):
    """A count that earns `high_points` at `high_at_least`, else `some_points` at
    `some_at_least`, else nothing."""

    high_at_least: int = Field(ge=1)
    high_points: float = Field(ge=0)
    some_at_least: int = Field(ge=1)
    some_points: float = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "some_at_least", "high_at_least")
        ascending(self, "some_points", "high_points", strict=False)
        return self


class Collaboration(StrictModel):
    """Collaboration score (0–100) bands: > high, > medium reward; < low penalizes."""

    high_above: float = Field(70, ge=0, le=100)
    high_points: float = Field(20, ge=0)
    medium_above: float = Field(40, ge=0, le=100)
    medium_points: float = Field(10, ge=0)
    low_below: float = Field(20, ge=0, le=100)
    low_points: float = Field(-10, le=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "medium_above", "high_above")
        ascending(self, "low_below", "medium_above", strict=False)
        ascending(self, "medium_points", "high_points", strict=False)
        return self


class ValueDelivery(StrictModel):
    """War story 1: outcomes, not activity."""

    baseline: float = Field(50, ge=0, le=100)
    task_trend: TaskTrend = TaskTrend()
    pets_added_points: float = Field(20, ge=0)
    new_features: Tiered = Tiered(high_at_least=2, high_points=20, some_at_least=1,
                                  some_points=10)
    collaboration: Collaboration = Collaboration()
    pet_health_improving_points: float = Field(10, ge=0)


class ModerateVolume(StrictModel):
    """1–3 tickets in 90 days: rewarded or penalized by their average CSAT (1–5)."""

    min_tickets: int = Field(1, ge=1)
    max_tickets: int = Field(3, ge=1)
    csat_great_at_least: float = Field(4.5, ge=1, le=5)
    great_points: float = Field(20, ge=0)
    csat_good_at_least: float = Field(4.0, ge=1, le=5)
    good_points: float = Field(10, ge=0)
    poor_points: float = Field(-10, le=0)
    unrated_points: float = 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "min_tickets", "max_tickets", strict=False)
        ascending(self, "csat_good_at_least", "csat_great_at_least", strict=False)
        ascending(self, "good_points", "great_points", strict=False)
        return self


class NoTickets(StrictModel):
    outreach_points: float = Field(10, ge=0)
    silent_points: float = Field(-5, le=0)


class HighVolume(StrictModel):
    """More than `above_tickets` tickets: `points_per_ticket` each, never below `floor_points`."""

    above_tickets: int = Field(5, ge=1)
    points_per_ticket: float = Field(-3, le=0)
    floor_points: float = Field(-30, le=0)


class SlowResolution(StrictModel):
    above_hours: float = Field(48, gt=0)
    points: float = Field(-15, le=0)


class SupportEngagement(StrictModel):
    """War story 2: productive support contact is healthy, silence and trouble are not."""

    baseline: float = Field(70, ge=0, le=100)
    moderate_volume: ModerateVolume = ModerateVolume()
    no_tickets: NoTickets = NoTickets()
    high_volume: HighVolume = HighVolume()
    unresolved_critical_points: float = Field(-20, le=0)
    slow_resolution: SlowResolution = SlowResolution()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.high_volume.above_tickets < self.moderate_volume.max_tickets:
            raise Violation("high_volume.above_tickets", "must be >= "
                             "@moderate_volume.max_tickets (the bands would overlap)")
        return self


class SupportHealthOld(StrictModel):
    """The rule War story 2 replaced ("more tickets = unhealthy"): 100 minus per-ticket and
    per-unresolved-critical penalties. Kept to compare old and new health scores."""

    points_per_ticket: float = Field(-15, le=0)
    unresolved_critical_points: float = Field(-25, le=0)


class Threshold(StrictModel):
    at_least: int = Field(ge=1)
    points: float = Field(ge=0)


class PremiumRisk(StrictModel):
    """Upgraded at least `min_days_since_upgrade` days ago and adoption below `score_below`."""

    min_days_since_upgrade: int = Field(30, ge=0)
    score_below: float = Field(40, gt=0, le=100)


class PremiumAdoption(StrictModel):
    """War story 3: use of the features a Premium household pays for. The maximum points sum to
    100 so the score is a percentage and the risk cut-off reads as "< 40% adoption"."""

    # default: the product's Premium plans; none, and the score is null for everyone
    plans: list[Literal[PLANS]] = Field(default_factory=lambda: list(PRODUCT.premium_plans))
    calendar_sync_points: float = Field(25, ge=0)
    analytics: Tiered = Tiered(high_at_least=5, high_points=25, some_at_least=2, some_points=15)
    templates: Tiered = Tiered(high_at_least=3, high_points=25, some_at_least=1, some_points=15)
    priority_support: Threshold = Threshold(at_least=1, points=15)
    onboarding_points: float = Field(10, ge=0)
    risk: PremiumRisk = PremiumRisk()

    @model_validator(mode="after")
    def _check(self) -> Self:
        total = (self.calendar_sync_points + self.analytics.high_points
                 + self.templates.high_points + self.priority_support.points
                 + self.onboarding_points)
        if abs(total - 100) > WEIGHT_TOLERANCE:
            raise Violation(None, f"maximum points must sum to 100, got {total:.6g}")
        return self


class AlertRule(StrictModel):
    """Alert when (current - previous) / previous < `change_below` (and current >
    `current_above` when set). A zero previous value never alerts."""

    change_below: float = Field(gt=-1, lt=0)
    current_above: float | None = Field(None, ge=0)
    severity: Literal["warning", "critical"]


class TrendAlerts(StrictModel):
    task_completion: AlertRule = AlertRule(change_below=-0.30, current_above=10,
                                           severity="critical")
    active_users: AlertRule = AlertRule(change_below=-0.50, severity="critical")
    session_duration: AlertRule = AlertRule(change_below=-0.40, severity="warning")


class Tiers(StrictModel):
    """The daily health check's cut-offs; `rule` says them in words."""

    critical_below: float = Field(40, gt=0, le=100)
    critical_min_alerts: int = Field(3, ge=1)
    at_risk_below: float = Field(60, gt=0, le=100)
    at_risk_min_alerts: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        ascending(self, "critical_below", "at_risk_below")
        ascending(self, "at_risk_min_alerts", "critical_min_alerts", strict=False)
        return self

    def rule(self) -> str:
        """The tiers in force, in words, for the UI."""
        return (f"critical when health < {self.critical_below:g} or "
                f"{self.critical_min_alerts}+ alerts; at risk when < {self.at_risk_below:g} or "
                f"{self.at_risk_min_alerts}+ alerts; healthy otherwise")


class Explanations(StrictModel):
    top_reasons: int = Field(3, ge=1)


class Scorecard(StrictModel):
    windows: Windows = Windows()
    health_weights: HealthWeights = HealthWeights()
    health_weights_old: HealthWeights = OLD_HEALTH_WEIGHTS
    product_usage: ProductUsage = ProductUsage()
    feature_adoption: FeatureAdoption = FeatureAdoption()
    engagement: Engagement = Engagement()
    payment_health: PaymentHealth = PaymentHealth()
    value_delivery: ValueDelivery = ValueDelivery()
    support_engagement: SupportEngagement = SupportEngagement()
    support_health_old: SupportHealthOld = SupportHealthOld()
    premium_adoption: PremiumAdoption = PremiumAdoption()
    trend_alerts: TrendAlerts = TrendAlerts()
    tiers: Tiers = Tiers()
    explanations: Explanations = Explanations()


SCORECARD_CONFIG = ConfigFile(
    Scorecard, "scorecard.yaml", "CS_SCORECARD", ScorecardError, "scorecard"
)
parse_scorecard = SCORECARD_CONFIG.parse
load_scorecard = SCORECARD_CONFIG.load
DEFAULT_SCORECARD_PATH = SCORECARD_CONFIG.default_path


