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


def components(x: HazardInputs, grid: ChunkGrid, p: SimulationParams) -> list[np.ndarray]:
    """The six hazard components (n, ncols), in MECHANISMS order."""
    days = grid.days[None, :]
    tenure = days - x.signup_day[:, None]
    alive = tenure >= 0
    t = np.maximum(tenure, 0) / weibull_scale(p)
    h0 = np.where(alive, (t + 1.0 / weibull_scale(p)) ** p.weibull_shape - t**p.weibull_shape, 0)
    premium_term = np.where(
        days >= x.paid_start_day[:, None],
        p.hr_premium_feature ** x.premium_features_30d[:, None].astype(np.float64),
        1.0,
    )
    base = h0 * np.exp(x.linear_predictor)[:, None] * premium_term
    no_signal = np.where(alive, p.no_signal_hazard, 0.0)
    m = x.ticket_multiplier
    below, above = np.minimum(m, 1.0), np.maximum(m - 1.0, 0.0)
    ramp = np.clip(
        (days - x.onset_day[:, None] - p.decline_hazard_start_days)
        / (p.decline_hazard_full_days - p.decline_hazard_start_days),
        0.0,
        1.0,
    )
    decline = p.decline_max_hazard * ramp**p.decline_hazard_power
    since = days - x.downgrade_day[:, None]
    downgrade = np.where((since >= 0) & (since < p.post_downgrade_days),
                         p.post_downgrade_hazard, 0.0)
    payment = np.where(x.payment_trouble, p.payment_failure_hazard, 0.0)
    return [base * below, no_signal * below, (base + no_signal) * above, decline, downgrade,
            payment]


@dataclass(frozen=True)
class Churn:
    day: np.ndarray  # global churn day (NO_DAY: survives the grid)
    us: np.ndarray  # churned_at, NEVER unless before the reference time
    mechanism: np.ndarray  # index into MECHANISMS, -1 for no churn before the reference time
    hazard: np.ndarray  # (n, ncols) total daily hazard


def draw_churn(
    comps: list[np.ndarray],
    signup_us: np.ndarray,
    grid: ChunkGrid,
    cal: Calendar,
    rng: np.random.Generator,
) -> Churn:
    total = comps[0].copy()
    for c in comps[1:]:  # six components; summing in place avoids a stacked copy
        total += c
    threshold = rng.standard_exponential(total.shape[0])
    hit = np.cumsum(total, axis=1) >= threshold[:, None]
    any_hit = hit.any(axis=1)
    col = np.argmax(hit, axis=1)
    day = np.where(any_hit, grid.first + col, NO_DAY)
    observed = day < cal.end_index
    rows = np.flatnonzero(observed)
    at = np.stack([c[rows, col[rows]] for c in comps], axis=1)
    cum = np.cumsum(at, axis=1)
    pick = (cum < rng.random(rows.size)[:, None] * cum[:, -1:]).sum(axis=1)
    mechanism = np.full(total.shape[0], -1, dtype=np.int8)
    mechanism[rows] = pick
    lo = np.maximum(cal.day_us(np.minimum(day, cal.n_days)), signup_us)
    hi = cal.day_us(np.minimum(day, cal.n_days) + 1)
    us = lo + (rng.random(total.shape[0]) * (hi - lo)).astype(np.int64)
    return Churn(day=day, us=np.where(observed, us, NEVER), mechanism=mechanism, hazard=total)


def hazard_truth(churn: Churn, signup_day: np.ndarray, grid: ChunkGrid, cal: Calendar):
    """Rows (household, day, hazard, p_churn_30d) from signup to min(churn, last day).

    p_churn_30d = 1 - exp(-sum of the latent hazard over the day and the 29 after it).
    """
    total = churn.hazard
    cum = np.zeros((total.shape[0], total.shape[1] + 1))
    np.cumsum(total, axis=1, out=cum[:, 1:])
    next30 = cum[:, ORACLE_DAYS:] - cum[:, : cum.shape[1] - ORACLE_DAYS]
    last = np.minimum(churn.day, cal.end_index - 1)
    days = grid.days
    mask = (days[None, :] >= signup_day[:, None]) & (days[None, :] <= last[:, None])
    rows, cols = np.nonzero(mask)
    p30 = -np.expm1(-next30[rows, cols])
    return rows, days[cols], total[rows, cols].astype(np.float32), p30.astype(np.float32)

