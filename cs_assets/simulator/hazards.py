"""Daily churn hazard on the household x day grid, one component per mechanism, and churn.

The total hazard is the sum of the components (MECHANISMS order). A household churns
on the first day its cumulative hazard reaches an Exp(1) draw; the mechanism is drawn
in proportion to the components on that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_assets.simulator.params import SimulationParams
from cs_assets.simulator.timegrid import NEVER, Calendar, ChunkGrid

NO_DAY = np.int64(2**40)  # churn day of households that outlive the grid
ORACLE_DAYS = 30  # p_churn_30d window; the grid runs this many latent days past the end


@dataclass(frozen=True)
class HazardInputs:
    """Per-household day indices and covariates that shape the hazard of a chunk."""

    signup_day: np.ndarray
    paid_start_day: np.ndarray
    premium_features_30d: np.ndarray
    onset_day: np.ndarray
    downgrade_day: np.ndarray
    linear_predictor: np.ndarray  # static Cox part: plan, pets, members, engagement
    ticket_multiplier: np.ndarray  # (n, ncols)
    payment_trouble: np.ndarray  # (n, ncols) bool: within the spike after a lost payment


def weibull_scale(p: SimulationParams) -> float:
    """Weibull scale (days) giving the reference household its one-year profile churn."""
    ref_lp = np.log(p.hr_pet) + np.log(p.hr_member)
    target = -np.log1p(-p.reference_first_year_churn) / np.exp(ref_lp)
    return 365.0 / target ** (1.0 / p.weibull_shape)


def linear_predictor(plan, pets0, members0, engagement, p: SimulationParams) -> np.ndarray:
    """log relative hazard of the Cox table (the Premium-feature term is time-varying)."""
    return (
        np.log(p.hr_premium) * (plan > 0)
        + np.log(p.hr_pet) * pets0
        + np.log(p.hr_member) * members0
        + np.log(p.hr_health_point) * p.health_points_per_sd * engagement
    )


def decline_progress(days: np.ndarray, onset_day: np.ndarray, length: int) -> np.ndarray:
    """0 before a silent decline, rising linearly to 1 over `length` days, then 1."""
    return np.clip((days[None, :] - onset_day[:, None]) / length, 0.0, 1.0)


def task_level(days_since_onset, p: SimulationParams):
    """Task completions relative to normal: -80 % per 8 weeks from onset, down to 5 %."""
    fall = p.decline_drop * np.maximum(days_since_onset, 0) / p.decline_days
    return np.maximum(p.decline_min_level, 1.0 - fall)


@dataclass(frozen=True)
class Cells:
    """Where to evaluate the hazard: the whole chunk grid, or given (row, column) pairs."""

    rows: np.ndarray | None = None  # None: every cell
    cols: np.ndarray | None = None

    def per_household(self, v: np.ndarray) -> np.ndarray:
        return v[:, None] if self.rows is None else v[self.rows]

    def per_cell(self, g: np.ndarray) -> np.ndarray:
        return g if self.rows is None else g[self.rows, self.cols]

    def days(self, grid: ChunkGrid) -> np.ndarray:
        return grid.days[None, :] if self.rows is None else grid.first + self.cols


def components(x: HazardInputs, at: Cells, grid: ChunkGrid, p: SimulationParams):
    """Yield the six hazard components at `at`, in MECHANISMS order (one array at a time)."""
    days = at.days(grid)
    tenure = days - at.per_household(x.signup_day)
    scale = weibull_scale(p)
    t = np.maximum(tenure, 0) / scale
    h0 = np.where(tenure >= 0, (t + 1.0 / scale) ** p.weibull_shape - t**p.weibull_shape, 0.0)
    premium_term = np.where(
        days >= at.per_household(x.paid_start_day),
        p.hr_premium_feature ** at.per_household(x.premium_features_30d).astype(np.float64),
        1.0,
    )
    base = h0 * np.exp(at.per_household(x.linear_predictor)) * premium_term
    no_signal = np.where(tenure >= 0, p.no_signal_hazard, 0.0)
    m = at.per_cell(x.ticket_multiplier)
    yield base * np.minimum(m, 1.0)
    yield no_signal * np.minimum(m, 1.0)
    yield (base + no_signal) * np.maximum(m - 1.0, 0.0)
    del base, no_signal, h0, premium_term
    ramp = np.clip(
        (days - at.per_household(x.onset_day) - p.decline_hazard_start_days)
        / (p.decline_hazard_full_days - p.decline_hazard_start_days),
        0.0,
        1.0,
    )
    yield p.decline_max_hazard * ramp**p.decline_hazard_power
    since = days - at.per_household(x.downgrade_day)
    yield np.where((since >= 0) & (since < p.post_downgrade_days), p.post_downgrade_hazard, 0.0)
    yield np.where(at.per_cell(x.payment_trouble), p.payment_failure_hazard, 0.0)


@dataclass(frozen=True)
class Churn:
    day: np.ndarray  # global churn day (NO_DAY: survives the grid)
    us: np.ndarray  # churned_at, NEVER unless before the reference time
    mechanism: np.ndarray  # index into MECHANISMS, -1 for no churn before the reference time
    cumulative: np.ndarray  # (n, ncols + 1) hazard summed over the days before each column


def draw_churn(
    x: HazardInputs,
    signup_us: np.ndarray,
    grid: ChunkGrid,
    cal: Calendar,
    p: SimulationParams,
    rng: np.random.Generator,
) -> Churn:
    """First day the cumulative hazard reaches an Exp(1) draw; mechanism by component share."""
    n = signup_us.shape[0]
    cum = np.zeros((n, grid.ncols + 1))
    total = cum[:, 1:]
    for c in components(x, Cells(), grid, p):  # six components, summed in place
        total += c
    np.cumsum(total, axis=1, out=total)
    hit = total >= rng.standard_exponential(n)[:, None]
    col = np.argmax(hit, axis=1)
    day = np.where(hit[np.arange(n), col], grid.first + col, NO_DAY)
    del hit
    observed = day < cal.end_index
    rows = np.flatnonzero(observed)
    share = np.cumsum(
        np.stack(list(components(x, Cells(rows, col[rows]), grid, p)), axis=1), axis=1
    )
    pick = (share < rng.random(rows.size)[:, None] * share[:, -1:]).sum(axis=1)
    mechanism = np.full(n, -1, dtype=np.int8)
    mechanism[rows] = pick
    lo = np.maximum(cal.day_us(np.minimum(day, cal.n_days)), signup_us)
    hi = cal.day_us(np.minimum(day, cal.n_days) + 1)
    us = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    return Churn(day=day, us=np.where(observed, us, NEVER), mechanism=mechanism, cumulative=cum)


def hazard_truth(churn: Churn, signup_day: np.ndarray, grid: ChunkGrid, cal: Calendar):
    """Rows (household, day, hazard, p_churn_30d) from signup to min(churn, last day).

    p_churn_30d = 1 - exp(-sum of the latent hazard over the day and the 29 after it).
    """
    cum = churn.cumulative
    last = np.minimum(churn.day, cal.end_index - 1)
    days = grid.days
    mask = (days[None, :] >= signup_day[:, None]) & (days[None, :] <= last[:, None])
    rows, cols = np.nonzero(mask)
    start = cum[rows, cols]
    hazard = cum[rows, cols + 1] - start
    p30 = -np.expm1(-(cum[rows, cols + ORACLE_DAYS] - start))
    return rows, days[cols], hazard.astype(np.float32), p30.astype(np.float32)
