"""Health scores with reasons, trend alerts and tiers, one daily partition each."""

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from cs_assets.defs.shared.checks import (
    unique_per_household_day,
    unique_per_household_day_spec,
)
from cs_assets.defs.shared.partitions import DAILY
from cs_assets.defs.shared.resources import ScorecardResource
from cs_assets.display import markdown_table
from cs_assets.figures import figure_png, markdown_image
from cs_assets.health.plots import score_histogram
from cs_assets.scoring import (
    explain_health,
    health_scores,
    health_tiers,
    premium_adoption,
    trend_alerts,
)
from cs_assets.vocabulary import KEYS

TOP_AT_RISK = 15
SCORE_COLUMNS = ("product_usage_score", "feature_adoption_score", "support_engagement_score",
                 "engagement_score", "payment_health_score", "value_delivery_score",
                 "health_score", "health_score_old")


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("as_of") == pl.col("as_of").max())


def _at_risk_table(frame: pl.DataFrame, columns: list[str]) -> MetadataValue:
    worst = _latest(frame).sort("health_score", "household_id").head(TOP_AT_RISK)
    return MetadataValue.md(markdown_table(worst.select(columns)))


@asset(
    name="health_scores",
    **DAILY,
    ins={"features": AssetIn("household_features")},
    check_specs=[
        AssetCheckSpec("scores_within_0_100", asset="health_scores", blocking=True,
                       description="Every component and health score lies in 0-100. Blocking."),
        AssetCheckSpec("no_missing_score_for_active_household", asset="health_scores",
                       blocking=True, description="Every household in the day's features "
                       "has a score. Blocking."),
        unique_per_household_day_spec("health_scores"),
    ],
    description="Component scores, the health score (spec weights, with value delivery) beside "
    "the old health score (old weights, ticket-penalizing support), Premium adoption and its "
    "risk flag, and the reasons that moved each household's score.",
)
def health_scores_asset(
    context: AssetExecutionContext, features, scorecard: ScorecardResource
):
    card = scorecard.load()
    scores = (
        health_scores(features, card)
        .join(premium_adoption(features, card).select(
            *KEYS, "premium_adoption_score", "premium_adoption_risk", "missing_premium_features"),
            on=list(KEYS), how="left")
        .join(explain_health(features, card), on=list(KEYS), how="left")
    )
    yield Output(
        scores,
        metadata={
            "dagster/row_count": scores.height,
            "mean_health_score_last_day": float(_latest(scores)["health_score"].mean() or 0),
            "mean_health_score_old_last_day":
                float(_latest(scores)["health_score_old"].mean() or 0),
            "lowest_health_last_day": _at_risk_table(
                scores, ["household_id", "health_score", "health_score_old", "top_reasons"]),
            # dpi 72: metadata images live in the event log
            "health_score_distribution_last_day": MetadataValue.md(markdown_image(
                figure_png(score_histogram(_latest(scores)), dpi=72),
                "health score distribution, new vs old")),
        },
    )
    out_of_range = scores.filter(pl.any_horizontal(
        [~pl.col(c).is_between(0, 100) for c in SCORE_COLUMNS])).height
    yield AssetCheckResult(check_name="scores_within_0_100", passed=out_of_range == 0,
                           severity=AssetCheckSeverity.ERROR,
                           metadata={"rows_out_of_range": out_of_range})
    missing = features.select(KEYS).join(
        scores.filter(pl.col("health_score").is_not_null()).select(KEYS), on=list(KEYS),
        how="anti").height
    yield AssetCheckResult(check_name="no_missing_score_for_active_household",
                           passed=missing == 0, severity=AssetCheckSeverity.ERROR,
                           metadata={"households_without_score": missing})
    yield unique_per_household_day(scores)


@asset(
    name="trend_alerts",
    **DAILY,
    ins={"features": AssetIn("household_features")},
    check_specs=[AssetCheckSpec(
        "alerts_point_at_existing_households", asset="trend_alerts",
        description="Every alert is about a household in that day's features.")],
    description="The spec's negative-trend alerts: task completions down > 30% with > 10 in "
    "the current window (critical), active users down > 50% (critical), session duration down "
    "> 40% (warning). A zero baseline raises no alert.",
)
def trend_alerts_asset(
    context: AssetExecutionContext, features, scorecard: ScorecardResource
):
    alerts = trend_alerts(features, scorecard.load())
    counts = alerts.group_by("metric", "severity").len().sort("metric")
    yield Output(
        alerts,
        metadata={"dagster/row_count": alerts.height,
                  "alerts_by_metric": MetadataValue.md(markdown_table(counts))},
    )
    orphans = alerts.select(KEYS).join(features.select(KEYS), on=list(KEYS), how="anti").height
    yield AssetCheckResult(check_name="alerts_point_at_existing_households",
                           passed=orphans == 0, severity=AssetCheckSeverity.ERROR,
                           metadata={"alerts_without_household": orphans})


@asset(
    name="health_tiers",
    **DAILY,
    ins={"scores": AssetIn("health_scores"), "alerts": AssetIn("trend_alerts")},
    description="The daily health check: critical, at risk or healthy by the health score and "
    "the number of trend alerts, with the cut-offs of the scorecard's `tiers` (the rule in "
    "force is in each materialization's `tier_rule`).",
)
def health_tiers_asset(
    context: AssetExecutionContext, scores, alerts, scorecard: ScorecardResource
):
    config = scorecard.load()
    tiers = health_tiers(scores, alerts, config).join(
        scores.select(*KEYS, "top_reasons"), on=list(KEYS), how="left")
    latest = _latest(tiers)
    counts = dict(latest.group_by("tier").len().iter_rows())
    worst = latest.filter(pl.col("tier") != "healthy").sort(
        pl.col("tier") == "at_risk", "health_score", "household_id").head(TOP_AT_RISK)
    return Output(
        tiers,
        metadata={
            "dagster/row_count": tiers.height,
            "tier_rule": config.tiers.rule(),
            **{f"{tier}_last_day": int(counts.get(tier, 0))
               for tier in ("critical", "at_risk", "healthy")},
            "top_at_risk": MetadataValue.md(markdown_table(worst.select(
                "household_id", "tier", "health_score", "alert_count", "top_reasons"))),
        },
    )
