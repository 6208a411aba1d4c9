"""NPS responses with free-text comments, and the public reviews promoters write."""

from __future__ import annotations

import numpy as np
import polars as pl

from cs_assets.dev.simulator.catalog import (
    NEGATIVE_ENDINGS,
    NPS_TEMPLATES,
    NPS_THEMES,
    POSITIVE_ENDINGS,
    REVIEW_PLATFORMS,
)
from cs_assets.dev.simulator.lifecycle import Lifecycle
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import DAY_US, Calendar, ChunkGrid, to_datetime

TEMPLATES_PER_CELL = 3
THEME_WEIGHTS = np.array([0.30, 0.25, 0.15, 0.15, 0.15])  # ease, features, support, price, rel.
# Flat template table indexed by (theme, negative, k).
TEMPLATE_TABLE = pl.Series(
    [
        NPS_TEMPLATES[(theme, positive)][k]
        for theme in NPS_THEMES
        for positive in (True, False)
        for k in range(TEMPLATES_PER_CELL)
    ]
)


def _comments(rng, score, support_touched, price_pain, declining) -> pl.Series:
    """Theme follows the household's situation; wording follows the score; casing varies."""
    n = score.size
    w = np.tile(THEME_WEIGHTS, (n, 1))
    w[:, 2] += 1.0 * support_touched
    w[:, 3] += 0.8 * price_pain
    w[:, 1] += 0.8 * declining
    cum = np.cumsum(w, axis=1)
    theme = (cum < rng.random(n)[:, None] * cum[:, -1:]).sum(axis=1)
    negative = score < 7
    idx = (theme * 2 + negative) * TEMPLATES_PER_CELL + rng.integers(0, TEMPLATES_PER_CELL, n)
    text = TEMPLATE_TABLE.gather(idx)
    case = rng.choice(4, size=n, p=(0.70, 0.15, 0.05, 0.10))
    endings = np.where(
        negative,
        np.array(NEGATIVE_ENDINGS)[rng.integers(0, len(NEGATIVE_ENDINGS), n)],
        np.array(POSITIVE_ENDINGS)[rng.integers(0, len(POSITIVE_ENDINGS), n)],
    )
    return pl.select(
        pl.when(pl.lit(pl.Series(case)) == 1)
        .then(pl.lit(text).str.to_lowercase())
        .when(pl.lit(pl.Series(case)) == 2)
        .then(pl.lit(text).str.to_uppercase())
        .when(pl.lit(pl.Series(case)) == 3)
        .then(pl.lit(text).str.to_titlecase())
        .otherwise(pl.lit(text))
        + pl.lit(pl.Series(endings))
    ).to_series()


def nps_frame(
    pop: Population,
    life: Lifecycle,
    cal: Calendar,
    grid: ChunkGrid,
    ticket_multiplier: np.ndarray,
    payment_trouble: np.ndarray,
    stop_us: np.ndarray,
    p: SimulationParams,
    rng: np.random.Generator,
    offset: int,
) -> pl.DataFrame:
    """Surveys 30 days after signup and quarterly after; ~30 % answer.

    The score reflects engagement, the support experience (tickets in the last 90
    days), a silent decline, a downgrade and payment trouble at the time.
    """
    n_surveys = np.maximum(
        (stop_us - pop.signup_us - p.nps_first_day * DAY_US) // (p.nps_every_days * DAY_US) + 1, 0
    )
    h = np.repeat(np.arange(len(pop)), n_surveys)
    k = np.arange(h.size) - np.repeat(np.cumsum(n_surveys) - n_surveys, n_surveys)
    at = (
        pop.signup_us[h]
        + (p.nps_first_day + k * p.nps_every_days) * DAY_US
        + (rng.uniform(0, 3, h.size) * DAY_US).astype(np.int64)
    )
    answered = (rng.random(h.size) < p.nps_response_share) & (at < stop_us[h])
    h, at = h[answered], at[answered]
    col = np.clip(cal.day_of(at) - grid.first, 0, grid.ncols - 1)
    mult = ticket_multiplier[h, col]
    trouble = payment_trouble[h, col]
    progress = np.clip((at - life.decline_onset_us[h]) / (p.decline_days * DAY_US), 0, 1)
    downgraded = life.downgrade_us[h] < at
    e = pop.engagement[h]
    latent = (
        7.5
        + 1.3 * e
        + 1.0 * (mult < 1)
        - 2.5 * (mult > 1)
        - 4.0 * progress
        - 2.5 * downgraded
        - 1.5 * trouble
        + rng.normal(0, 1.5, h.size)
    )
    score = np.clip(np.round(latent), 0, 10).astype(np.int64)
    paid_low = (life.paid_start_us[h] < at) & (life.premium_features_30d[h] <= 1)
    comment = _comments(rng, score, mult != 1, downgraded | paid_low, progress > 0)
    has_comment = rng.random(h.size) < p.nps_comment_share
    return pl.DataFrame(
        {
            "h": h + offset,
            "responded_at": to_datetime("responded_at", at),
            "score": score,
            "comment": comment.scatter(np.flatnonzero(~has_comment), None),
        }
    )


def reviews_frame(
    nps: pl.DataFrame, stop_us: np.ndarray, p: SimulationParams, rng, offset: int
) -> pl.DataFrame:
    """Promoters sometimes write a 4-5 star review, detractors now and then a 1-2 star one."""
    score = nps["score"].to_numpy()
    h = nps["h"].to_numpy() - offset
    at = nps["responded_at"].dt.epoch("us").to_numpy()
    m = score.size
    promoter = (score >= 9) & (rng.random(m) < p.review_promoter_share)
    detractor = (score <= 4) & (rng.random(m) < p.review_detractor_share)
    rating = np.where(
        promoter, np.where(rng.random(m) < 0.75, 5, 4), np.where(rng.random(m) < 0.5, 1, 2)
    )
    submitted = at + (rng.uniform(1, 21, m) * DAY_US).astype(np.int64)
    keep = (promoter | detractor) & (submitted < stop_us[h])
    weights = np.array([w for _, w in REVIEW_PLATFORMS])
    platform = np.array([name for name, _ in REVIEW_PLATFORMS])[
        rng.choice(weights.size, size=m, p=weights)
    ]
    return pl.DataFrame(
        {
            "h": h[keep] + offset,
            "platform": platform[keep],
            "rating": rating[keep].astype(np.int64),
            "submitted_at": to_datetime("submitted_at", submitted[keep]),
        }
    )
