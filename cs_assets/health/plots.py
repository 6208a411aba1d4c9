"""The health score distribution, new (with value delivery) against old scores: as a figure and
as a table of bands."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

BIN_EDGES = np.arange(0, 105, 5)  # 5-point bins over 0-100


def score_bands(scores: pl.DataFrame, width: int = 10) -> pl.DataFrame:
    """Households per score band of `width` points, new and old score side by side: the
    distribution as a table, cheap enough for every day of a backfill."""
    def counts(column: str) -> pl.DataFrame:
        band = (pl.col(column) // width * width).clip(upper_bound=100 - width).cast(pl.Int64)
        return scores.select(band.alias("from")).drop_nulls().group_by("from").len(column)

    bands = pl.DataFrame({"from": list(range(0, 100, width))}, schema={"from": pl.Int64})
    return (bands.join(counts("health_score"), on="from", how="left")
            .join(counts("health_score_old"), on="from", how="left")
            .with_columns(pl.col("health_score", "health_score_old").fill_null(0),
                          band=pl.format("{}–{}", "from", pl.col("from") + width - 1
                                         + (pl.col("from") == 100 - width).cast(pl.Int64)))
            .select("band", "health_score", "health_score_old"))


def score_histogram(scores: pl.DataFrame) -> Figure:
    """Overlaid histograms of `health_score` and `health_score_old`: where value delivery moved
    households (War story 1's "healthy" silent churners should move down)."""
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    for column, label in (("health_score_old", "old score"), ("health_score", "health score")):
        ax.hist(scores[column].drop_nulls().to_numpy(), bins=BIN_EDGES, alpha=0.55, label=label)
    ax.set(title=f"Health score distribution ({scores.height} households)", xlabel="score",
           ylabel="households", xlim=(0, 100))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
