"""Support tickets (War story 2): a ticket habit per household and the trailing-90-day effect."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cs_assets.contract.tables import TICKET_PRIORITIES
from cs_assets.dev.simulator.catalog import TICKET_CATEGORIES
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.timegrid import DAY_US, HOUR_US, Calendar, ChunkGrid, to_datetime


@dataclass(frozen=True)
class Tickets:
    """Every latent ticket of a chunk (before churn truncation) and its hazard effect."""

    h: np.ndarray  # chunk-local household index
    us: np.ndarray  # created_at
    csat: np.ndarray  # the experience 1-5 (observed only when resolved and answered)
    multiplier: np.ndarray  # (n, ncols) hazard multiplier on profile + no-signal hazard


def _renewals(rng, signup_us, gap_days: float, shape: float, until_us: int):
    """Ticket instants as a renewal process with gamma gaps (mean `gap_days`).

    Draws enough gaps to pass `until_us` (1.5x the expected count plus 10: falling
    short would need a many-sigma run of short gaps).
    """
    if signup_us.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = int((until_us - signup_us.min()) / DAY_US / gap_days * 1.5) + 10
    gaps = rng.gamma(shape, gap_days / shape, (signup_us.size, k))
    gaps[:, 0] *= rng.random(signup_us.size)  # the habit is already running at signup
    at = signup_us[:, None] + (np.cumsum(gaps, axis=1) * DAY_US).astype(np.int64)
    row, col = np.nonzero(at < until_us)
    return row, at[row, col]


def _trailing(grid: np.ndarray, window: int) -> np.ndarray:
    """Sum over the `window` days strictly before each day (cumulative sums, no loop)."""
    c = np.zeros((grid.shape[0], grid.shape[1] + 1), dtype=grid.dtype)
    np.cumsum(grid, axis=1, out=c[:, 1:])
    lo = np.maximum(np.arange(grid.shape[1]) - window, 0)
    return c[:, :-1] - c[:, lo]


def ticket_multiplier(count: np.ndarray, csat_sum: np.ndarray, p: SimulationParams):
    """The spec's ticket-bucket table: 1-2 well-handled tickets protect, 6+ bad ones hurt."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, csat_sum / np.maximum(count, 1), 0.0)
    return np.select(
        [
            count == 0,
            (count <= 2) & (mean >= 4.5),
            (count >= 3) & (count <= 5) & (mean >= 4.0),
            (count >= 6) & (mean < 4.0),
            count >= 6,
            mean < 3.5,
        ],
        [
            1.0,
            p.ticket_mult_1_2_good,
            p.ticket_mult_3_5_good,
            p.ticket_mult_6_plus_poor,
            p.ticket_mult_6_plus_other,
            p.ticket_mult_poor_experience,
        ],
        1.0,
    ).astype(np.float32)


def draw_tickets(
    pop: Population,
    onset_us: np.ndarray,
    cal: Calendar,
    grid: ChunkGrid,
    p: SimulationParams,
    rng: np.random.Generator,
) -> Tickets:
    """Tickets per support class; silent decliners stop asking for help as they fade."""
    until = int(cal.day_us(cal.n_days))
    hs, ats, csats = [], [], []
    for cls in (1, 2, 3):  # occasional, frequent, high-touch
        rows = np.flatnonzero(pop.support_class == cls)
        r, at = _renewals(
            rng,
            pop.signup_us[rows],
            p.ticket_gap_days[cls - 1],
            p.ticket_gap_shape[cls - 1],
            until,
        )
        hs.append(rows[r])
        ats.append(at)
        cum = np.cumsum(p.csat_probs[cls - 1])[:-1]
        csats.append(np.searchsorted(cum, rng.random(r.size), side="right") + 1)
    h, at, csat = np.concatenate(hs), np.concatenate(ats), np.concatenate(csats)
    progress = np.clip((at - onset_us[h]) / (p.decline_days * DAY_US), 0.0, 1.0)
    keep = rng.random(h.size) >= p.decline_ticket_damping * progress
    h, at, csat = h[keep], at[keep], csat[keep].astype(np.int8)
    cell = h * grid.ncols + (cal.day_of(at) - grid.first)
    size = len(pop) * grid.ncols
    counts = np.bincount(cell, minlength=size).reshape(len(pop), grid.ncols).astype(np.int32)
    csat_sum = np.bincount(cell, weights=csat, minlength=size).reshape(counts.shape)
    window = p.ticket_window_days
    mult = ticket_multiplier(_trailing(counts, window), _trailing(csat_sum, window), p)
    return Tickets(h=h, us=at, csat=csat, multiplier=mult)


def tickets_frame(
    t: Tickets,
    pop: Population,
    stop_us: np.ndarray,
    p: SimulationParams,
    rng: np.random.Generator,
    offset: int,
) -> pl.DataFrame:
    """Ticket rows before churn / the reference time, with resolution and CSAT."""
    m, created = t.h.shape[0], t.us
    priority = rng.choice(4, size=m, p=p.ticket_priority_probs)
    hours = rng.lognormal(
        np.log(np.asarray(p.resolution_median_hours)[priority]), p.resolution_sigma
    )
    critical = priority == 3
    stuck = critical & (rng.random(m) < p.critical_stuck_share)
    hours = np.where(stuck, rng.lognormal(np.log(8 * 24.0), 0.5, m), hours)
    resolved = created + (hours * HOUR_US).astype(np.int64)
    stop = stop_us[t.h]
    is_resolved = (rng.random(m) >= p.unresolved_share) & (resolved < stop)
    rated = is_resolved & (rng.random(m) < p.csat_response_share)
    cats = np.array([w for _, w in TICKET_CATEGORIES])
    category = rng.choice(len(cats), size=m, p=cats)
    keep = (created >= pop.signup_us[t.h]) & (created < stop)
    csat = pl.Series("csat_score", t.csat.astype(np.int64)).scatter(np.flatnonzero(~rated), None)
    return pl.DataFrame(
        {
            "h": t.h + offset,
            "created_at": to_datetime("created_at", created),
            "resolved_at": to_datetime("resolved_at", resolved, is_resolved),
            "priority": np.array(TICKET_PRIORITIES)[priority],
            "csat_score": csat,
            "category": np.array([c for c, _ in TICKET_CATEGORIES])[category],
        }
    ).filter(pl.Series(keep))
