"""The feature benchmark's yardsticks: pandas and DuckDB compute the same features as the
project's code (so `make bench` compares like with like), and the bench world's size."""

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest

from cs_assets.dev.benchmarks import duckdb_features, features_bench, pandas_features
from cs_assets.dev.benchmarks import project_features as project
from cs_assets.dev.simulator import SCALES, Scale, simulate

END = features_bench.END_DATE
ENGINES = {"pandas": pandas_features, "duckdb": duckdb_features}


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bench scale's world (120 days of activity, the busier product) at 600 households."""
    out = tmp_path_factory.mktemp("bench")
    simulate(out, households=600, end_date=END, seed=features_bench.SEED, scale="bench")
    return out


@pytest.fixture(scope="module")
def results(small_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each engine's features of the last as-of day, written as the bench writes them."""
    out = tmp_path_factory.mktemp("results")
    paths = {}
    for name, module in {"project": project, **ENGINES}.items():
        paths[name] = out / f"{name}.parquet"
        module._write(module.features(small_bench, END), paths[name])
    return paths


def test_the_project_features_are_a_real_population(results):
    frame = pl.read_parquet(results["project"])
    assert frame.height > 300
    # windows that are empty everywhere would make the agreement below vacuous
    for column in ("tasks_completed_30d", "logins_prev_30d", "active_users_30d",
                   "new_features_adopted_90d", "weekend_usage_ratio", "peak_hour_usage"):
        assert frame.get_column(column).drop_nulls().sum() > 0, column


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_feature_column_agrees_with_the_yardstick(results, engine):
    reference = pl.read_parquet(results["project"])
    other = pl.read_parquet(results[engine])
    assert features_bench.compare(reference, other, engine) == []


def test_a_changed_value_is_reported_as_a_difference(results):
    reference = pl.read_parquet(results["project"])
    altered = reference.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("tasks_completed_30d") + 1)
        .otherwise(pl.col("tasks_completed_30d"))
    )
    problems = features_bench.compare(reference, altered, "altered")
    assert len(problems) == 1 and "tasks_completed_30d differs for 1 households" in problems[0]
    fewer = features_bench.compare(reference, reference.slice(1), "fewer")
    assert fewer and "household sets differ (1 only in project" in fewer[0]


def test_the_bench_world_is_busier_than_the_demo_with_the_same_households(tmp_path):
    """`activity_factor` scales the recurring activity (the bench's ~70M events at 200,000
    households) without changing who the households are or when they churn."""
    bench = SCALES["bench"]
    plain = dataclasses.replace(bench, activity_factor=1.0)
    counts = {}
    for name, scale in (("plain", plain), ("busier", bench)):
        out = tmp_path / name
        counts[name] = simulate(out, households=300, end_date=END, seed=3, scale=scale).events
        manifest = json.loads((out / "_manifest.json").read_text())
        assert manifest["scale_values"]["activity_factor"] == scale.activity_factor
    ratio = counts["busier"] / counts["plain"]
    assert 1.2 < ratio < 1.4, ratio
    homes = [pl.read_parquet(tmp_path / n / "households.parquet") for n in ("plain", "busier")]
    same = ("household_id", "created_at", "churned_at", "timezone")
    assert homes[0].select(same).equals(homes[1].select(same))
    assert homes[0].get_column("churned_at").null_count() < homes[0].height
    assert isinstance(bench, Scale) and bench.activity_factor > 1.0


def test_a_dataset_of_another_bench_scale_is_not_reused(small_bench, tmp_path):
    assert features_bench._manifest_matches(small_bench, 600)
    assert not features_bench._manifest_matches(small_bench, 601)
    manifest = json.loads((small_bench / "_manifest.json").read_text())
    manifest["scale_values"]["activity_factor"] = 1.0  # generated before the busier bench
    (tmp_path / "_manifest.json").write_text(json.dumps(manifest))
    assert not features_bench._manifest_matches(tmp_path, 600)


def test_a_dataset_in_another_codec_is_not_reused(small_bench, tmp_path):
    """`--compression zstd` must not time the snappy files (nor the reverse); datasets made
    before the codec was recorded were zstd and are made again."""
    assert not features_bench._manifest_matches(small_bench, 600, "zstd")
    manifest = json.loads((small_bench / "_manifest.json").read_text())
    del manifest["compression"]
    (tmp_path / "_manifest.json").write_text(json.dumps(manifest))
    assert not features_bench._manifest_matches(tmp_path, 600)
