"""Scoring: pure polars functions from the household_features frame to component scores,
health scores, premium adoption, trend alerts, tiers and explanations. No Dagster here; assets
wrap these. Every weight, threshold and point value comes from the scorecard YAML."""

from cs_assets.scoring.alerts import trend_alerts
from cs_assets.scoring.component import Component, Rule, component_frame
from cs_assets.scoring.config import (
    DEFAULT_SCORECARD_PATH,
    SCORECARD_CONFIG,
    Scorecard,
    ScorecardError,
    load_scorecard,
    parse_scorecard,
)
from cs_assets.scoring.explanations import explain_health, not_scored, rule_contributions
from cs_assets.scoring.health import (
    health_components,
    health_components_old,
    health_scores,
    weighted_health,
)
from cs_assets.scoring.payment import payment_health
from cs_assets.scoring.premium import premium_adoption
from cs_assets.scoring.support import support_engagement, support_health_old
from cs_assets.scoring.tiers import health_tiers
from cs_assets.scoring.trend import trend
from cs_assets.scoring.usage import engagement, feature_adoption, product_usage
from cs_assets.scoring.value_delivery import value_delivery

__all__ = [
    "DEFAULT_SCORECARD_PATH",
    "SCORECARD_CONFIG",
    "Component",
    "Rule",
    "Scorecard",
    "ScorecardError",
    "component_frame",
    "engagement",
    "explain_health",
    "feature_adoption",
    "health_components",
    "health_components_old",
    "health_scores",
    "health_tiers",
    "load_scorecard",
    "not_scored",
    "parse_scorecard",
    "payment_health",
    "premium_adoption",
    "product_usage",
    "rule_contributions",
    "support_engagement",
    "support_health_old",
    "trend",
    "trend_alerts",
    "value_delivery",
    "weighted_health",
]
