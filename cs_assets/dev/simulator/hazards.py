"""Daily churn hazard on the household x day grid, one component per mechanism, and churn.

The total hazard is the sum of the components (MECHANISMS order). A household churns
on the first day its cumulative hazard reaches an Exp(1) draw; the mechanism is drawn
in proportion to the components on that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.timegrid import NEVER, Calendar, ChunkGrid

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


def _window_sums(a: np.ndarray, days: int = ORACLE_DAYS) -> np.ndarray:
    """(n, ncols): the sum of each row over columns j .. j + days - 1 (cut at the grid's end)."""
    c = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=c[:, 1:])
    j = np.arange(a.shape[1])
    return c[:, np.minimum(j + days, a.shape[1])] - c[:, j]


def known_window_hazard(x: HazardInputs, grid: ChunkGrid, p: SimulationParams) -> np.ndarray:
    """(n, ncols): hazard over each day and the 29 after it, from what is known on that day.

    The realised 30-day hazard also counts triggers that have not happened yet (a downgrade
    next week, a payment that will fail, tickets that will change the multiplier). Here those
    are left out: the ticket multiplier stays at its value on the day, a downgrade counts only
    if it came before the day, a payment spike only if it started before the day. The decline
    ramp needs no change: it starts 49 days after an onset, so one inside the window adds
    nothing to it. The expected hazard of future triggers is not added, which makes this a
    slight underestimate of the probability given the state on the day.
    """
    parts = components(x, Cells(), grid, p)
    scaled = next(parts) + next(parts) + next(parts)  # (base + no signal) x multiplier
    m = x.ticket_multiplier
    unscaled = np.divide(scaled, m, out=np.zeros_like(scaled), where=m > 0)
    del scaled
    known = m * _window_sums(unscaled)
    del unscaled
    known += _window_sums(next(parts))  # silent decline
    downgraded_before = x.downgrade_day[:, None] < grid.days[None, :]
    known += np.where(downgraded_before, _window_sums(next(parts)), 0.0)
    trouble = x.payment_trouble
    cols = np.arange(grid.ncols)
    run_end = np.minimum.accumulate(np.where(trouble, grid.ncols, cols)[:, ::-1], axis=1)[:, ::-1]
    started_before = trouble & np.concatenate(
        [np.zeros((trouble.shape[0], 1), bool), trouble[:, :-1]], axis=1)
    known += np.where(started_before, p.payment_failure_hazard
                      * np.minimum(run_end - cols, ORACLE_DAYS), 0.0)
    return known


def hazard_truth(
    churn: Churn, signup_day: np.ndarray, grid: ChunkGrid, cal: Calendar, known: np.ndarray
):
    """Rows (household, day, hazard, p_churn_30d, p_churn_30d_known) from signup to
    min(churn, last day).

    p_churn_30d = 1 - exp(-sum of the latent hazard over the day and the 29 after it): the
    oracle with foresight. p_churn_30d_known: the same from `known_window_hazard`.
    """
    cum = churn.cumulative
    last = np.minimum(churn.day, cal.end_index - 1)
    days = grid.days
    mask = (days[None, :] >= signup_day[:, None]) & (days[None, :] <= last[:, None])
    rows, cols = np.nonzero(mask)
    start = cum[rows, cols]
    hazard = cum[rows, cols + 1] - start
    p30 = -np.expm1(-(cum[rows, cols + ORACLE_DAYS] - start))
    p30_known = -np.expm1(-known[rows, cols])
    return (rows, days[cols], hazard.astype(np.float32), p30.astype(np.float32),
            p30_known.astype(np.float32))
