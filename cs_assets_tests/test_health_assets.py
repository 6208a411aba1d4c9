"""Features, scores, alerts and tiers as daily-partitioned assets, backfilled in one run."""

from datetime import UTC, datetime, time, timedelta

import polars as pl
import pytest
from dagster import AssetsDefinition, DagsterInstance, materialize

from cs_assets.definitions import defs
from cs_assets.defs.shared.resources import (
    MetricsResource,
    ScorecardResource,
    StateResource,
    resources_from_env,
)
from cs_assets.settings import ConfigError
from cs_assets_tests import factories as f
from cs_assets_tests.test_ingestion_assets import resources as raw_resources

# every asset of the daily health check (the churn group needs a model registry)
ASSETS = [a for a in defs.assets if isinstance(a, AssetsDefinition)
          and set(a.group_names_by_key.values()) <= {"raw", "features", "scoring"}]
DAY_2 = f.REFERENCE.date() - timedelta(days=1)
DAY_1 = DAY_2 - timedelta(days=1)


def busy_household() -> dict[str, pl.DataFrame]:
    """hh_1 with tasks falling from 30 to 12 across the two 30-day windows: a task alert."""
    tables = f.minimal_raw()
    start = f.REFERENCE - timedelta(days=60)
    rows = [dict(event_id=f"ev_t{i}", household_id="hh_1", user_id="u_1",
                 occurred_at=start + timedelta(days=i % 28, hours=1), event_type="task_completion")
            for i in range(30)]
    rows += [dict(event_id=f"ev_c{i}", household_id="hh_1", user_id="u_1",
                  occurred_at=start + timedelta(days=31 + i % 26, hours=1),
                  event_type="task_completion") for i in range(12)]
    tables["activity_events"] = pl.concat([tables["activity_events"],
                                           f.frame("activity_events", rows)])
    # hh_3 churns between the two as-of instants: the two days differ
    churned = datetime.combine(DAY_1, time(12), UTC)
    for table, row in [
        ("households", dict(household_id="hh_3", created_at=f.SIGNUP, region="US",
                            email_opt_out=False, churned_at=churned)),
        ("members", dict(user_id="u_3", household_id="hh_3", role="owner", joined_at=f.SIGNUP)),
        ("subscription_changes", dict(change_id="sc_3n", household_id="hh_3",
                                      changed_at=f.SIGNUP, change_type="new", to_plan="Free",
                                      mrr_after=0.0)),
        ("subscription_changes", dict(change_id="sc_3c", household_id="hh_3",
                                      changed_at=churned, change_type="cancel", from_plan="Free",
                                      mrr_after=0.0)),
    ]:
        tables[table] = pl.concat([tables[table], f.frame(table, [row])])
    return tables


def backfill_two_days(tmp_path, **kwargs):
    """The daily health check over DAY_1..DAY_2 in one run, on the raw tables under
    `tmp_path / "raw"`; (result, output folder)."""
    return materialize(
        ASSETS,
        resources={**raw_resources(tmp_path / "raw", tmp_path / "out"),
                   "scorecard": ScorecardResource(),
                   "metrics": MetricsResource(),
                   "state": StateResource(url=f"sqlite:///{tmp_path / 'state.db'}")},
        instance=DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": DAY_1.isoformat(),
              "dagster/asset_partition_range_end": DAY_2.isoformat()},
        **kwargs,
    ), tmp_path / "out"


@pytest.fixture
def backfill(tmp_path):
    f.write_raw(tmp_path / "raw", busy_household())
    return backfill_two_days(tmp_path)


def test_one_run_writes_every_day(backfill):
    result, out = backfill
    assert result.success
    for asset in ("household_features", "health_scores", "trend_alerts", "health_tiers"):
        for day in (DAY_1, DAY_2):
            frame = pl.read_parquet(out / asset / f"{day.isoformat()}.parquet")
            assert set(frame["as_of"].cast(pl.String)) <= {day.isoformat()}
    features = pl.read_parquet(out / "household_features" / f"{DAY_2.isoformat()}.parquet")
    assert features["household_id"].to_list() == ["hh_1"]  # hh_2 churned before
    assert features["tasks_completed_30d"].item() == 12


def test_checks_pass_and_tiers_are_counted(backfill):
    result, out = backfill
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed
                   for e in result.get_asset_check_evaluations()}
    for key in [("household_features", "one_row_per_household_per_day"),
                ("health_scores", "scores_within_0_100"),
                ("health_scores", "no_missing_score_for_active_household"),
                ("trend_alerts", "alerts_point_at_existing_households")]:
        assert evaluations[key] is True, key
    alerts = pl.read_parquet(out / "trend_alerts" / f"{DAY_2.isoformat()}.parquet")
    assert alerts["metric"].to_list() == ["task_completion"]
    tiers = pl.read_parquet(out / "health_tiers" / f"{DAY_2.isoformat()}.parquet")
    assert tiers["tier"].item() in ("at_risk", "critical")  # one alert makes it at least at risk
    mat = materialization(result, "health_tiers", DAY_2)
    assert mat.metadata["healthy"].value == 0
    assert mat.metadata["at_risk"].value + mat.metadata["critical"].value == 1
    assert "task completions" in mat.metadata["top_at_risk"].value


def materialization(result, asset: str, day):
    return next(e.event_specific_data.materialization
                for e in result.get_asset_materialization_events()
                if e.event_specific_data.materialization.asset_key.to_user_string() == asset
                and e.event_specific_data.materialization.partition == day.isoformat())


def test_each_day_of_a_backfill_describes_its_own_rows(backfill):
    result, out = backfill
    for day in (DAY_1, DAY_2):
        rows = pl.read_parquet(out / "household_features" / f"{day.isoformat()}.parquet")
        mat = materialization(result, "household_features", day)
        assert mat.metadata["households"].value == rows.height
        assert mat.metadata["dagster/row_count"].value == rows.height
        tiers = pl.read_parquet(out / "health_tiers" / f"{day.isoformat()}.parquet")
        counted = materialization(result, "health_tiers", day).metadata
        assert sum(counted[t].value for t in ("critical", "at_risk", "healthy")) == tiers.height
    day_1 = materialization(result, "household_features", DAY_1).metadata["households"].value
    assert day_1 == 2  # hh_1 and hh_3, which churns before DAY_2


def test_a_check_runs_once_and_reports_every_day_of_the_run(backfill):
    result, _ = backfill
    [check] = [e for e in result.get_asset_check_evaluations()
               if e.asset_key.to_user_string() == "health_scores"
               and e.check_name == "scores_within_0_100"]
    assert check.metadata["days_checked"].value == 2
    by_day = check.metadata["by_day"].value
    assert DAY_1.isoformat() in by_day and DAY_2.isoformat() in by_day


def test_health_scores_show_the_score_distribution_as_a_small_image(backfill):
    result, _ = backfill
    mat = materialization(result, "health_scores", DAY_2)  # the run's last day
    image = mat.metadata["health_score_distribution"].value
    assert image.startswith("![health score distribution") and "(data:image/png;base64," in image
    assert len(image) < 100_000  # stored in the event log with every materialization
    bands = materialization(result, "health_scores", DAY_1).metadata["score_bands"].value
    assert "| 90–100 |" in bands and "| 0–9 |" in bands


def test_bad_scorecard_fails_at_load_naming_the_key(tmp_path):
    bad = tmp_path / "scorecard.yaml"
    bad.write_text("health_weights:\n  product_usage: 0.9\n")
    with pytest.raises(ConfigError, match=r"CS_SCORECARD: .*health_weights"):
        resources_from_env({"CS_HOME": str(tmp_path), "CS_SCORECARD": str(bad)})
