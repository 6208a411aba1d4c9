"""The health score distribution as a figure: new (with value delivery) against old scores."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

BIN_EDGES = np.arange(0, 105, 5)  # 5-point bins over 0-100


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
