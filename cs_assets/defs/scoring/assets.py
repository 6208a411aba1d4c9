"""Health scores with reasons, trend alerts and tiers, one daily partition each."""

import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from cs_assets.defs.shared.checks import (
    rows_check,
    unique_per_household_day,
    unique_per_household_day_spec,
)
from cs_assets.defs.shared.metadata import per_day
from cs_assets.defs.shared.partitions import DAILY, days_of
from cs_assets.defs.shared.resources import RawSourceResource, ScorecardResource
from cs_assets.display import markdown_table
from cs_assets.features.household import unavailable_features
from cs_assets.figures import figure_png, markdown_image
from cs_assets.health.plots import score_bands, score_histogram
from cs_assets.scoring import (
    explain_health,
    health_scores,
    health_tiers,
    not_scored,
    premium_adoption,
    trend_alerts,
)
from cs_assets.vocabulary import KEYS

TOP_AT_RISK = 15
SCORE_COLUMNS = ("product_usage_score", "feature_adoption_score", "support_engagement_score",
                 "engagement_score", "payment_health_score", "value_delivery_score",
                 "health_score", "health_score_old")


def _scores_of_day(day: pl.DataFrame) -> dict:
    worst = day.sort("health_score", "household_id").head(TOP_AT_RISK)
    return {
        "mean_health_score": float(day["health_score"].mean() or 0),
        "mean_health_score_old": float(day["health_score_old"].mean() or 0),
        "lowest_health": MetadataValue.md(markdown_table(worst.select(
            "household_id", "health_score", "health_score_old", "top_reasons"))),
        "score_bands": MetadataValue.md(markdown_table(score_bands(day))),
    }


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
    context: AssetExecutionContext, features, scorecard: ScorecardResource,
    raw_source: RawSourceResource,
):
    card = scorecard.load()
    unavailable = unavailable_features(raw_source.missing_sources())
    scores = (
        health_scores(features, card, unavailable)
        .join(premium_adoption(features, card).select(
            *KEYS, "premium_adoption_score", "premium_adoption_risk", "missing_premium_features"),
            on=list(KEYS), how="left")
        .join(explain_health(features, card, unavailable), on=list(KEYS), how="left")
    )
    per_day(context, scores, _scores_of_day)
    # the histogram of the run's last day only: ~0.1 s a figure, a 180-day backfill would
    # spend half a minute drawing (every day has its `score_bands`); dpi 72: metadata images
    # live in the event log
    days = days_of(context)
    last = max(days)
    context.add_asset_metadata({"health_score_distribution": MetadataValue.md(markdown_image(
        figure_png(score_histogram(scores.filter(pl.col("as_of") == last)), dpi=72),
        "health score distribution, new vs old"))}, partition_key=last.isoformat())
    yield Output(scores, metadata={"dagster/row_count": scores.height,
                                   "not_scored": MetadataValue.json(not_scored(card, unavailable))})
    yield rows_check("scores_within_0_100", scores.filter(pl.any_horizontal(
        [~pl.col(c).is_between(0, 100) for c in SCORE_COLUMNS])), days, "rows_out_of_range")
    yield rows_check("no_missing_score_for_active_household", features.select(KEYS).join(
        scores.filter(pl.col("health_score").is_not_null()).select(KEYS), on=list(KEYS),
        how="anti"), days, "households_without_score")
    yield unique_per_household_day(scores, days)


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
    per_day(context, alerts, lambda day: {"alerts_by_metric": MetadataValue.md(markdown_table(
        day.group_by("metric", "severity").len("alerts").sort("metric", "severity")))})
    yield Output(alerts, metadata={"dagster/row_count": alerts.height})
    yield rows_check("alerts_point_at_existing_households", alerts.select(KEYS).join(
        features.select(KEYS), on=list(KEYS), how="anti"), days_of(context),
        "alerts_without_household")


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
    per_day(context, tiers, _tiers_of_day)
    return Output(tiers, metadata={"dagster/row_count": tiers.height,
                                   "tier_rule": config.tiers.rule()})


def _tiers_of_day(day: pl.DataFrame) -> dict:
    counts = dict(day.group_by("tier").len().iter_rows())
    worst = day.filter(pl.col("tier") != "healthy").sort(
        pl.col("tier") == "at_risk", "health_score", "household_id").head(TOP_AT_RISK)
    return {
        **{tier: int(counts.get(tier, 0)) for tier in ("critical", "at_risk", "healthy")},
        "top_at_risk": MetadataValue.md(markdown_table(worst.select(
            "household_id", "tier", "health_score", "alert_count", "top_reasons"))),
    }
