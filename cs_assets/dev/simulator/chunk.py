"""One chunk of households simulated end to end: life events, billing, tickets, hazard,
churn, then every row those households contribute to the raw tables."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from cs_assets.dev.simulator.activity import Events, draw_events
from cs_assets.dev.simulator.billing import (
    draw_invoices,
    payments_frame,
    subscription_frame,
)
from cs_assets.dev.simulator.feedback import nps_frame, reviews_frame
from cs_assets.dev.simulator.hazards import (
    HazardInputs,
    draw_churn,
    hazard_truth,
    known_window_hazard,
    linear_predictor,
)
from cs_assets.dev.simulator.lifecycle import draw_lifecycle
from cs_assets.dev.simulator.params import SimulationParams
from cs_assets.dev.simulator.population import Population
from cs_assets.dev.simulator.records import (
    members_frame,
    observations_frame,
    pets_frame,
    success_plans_frame,
)
from cs_assets.dev.simulator.support import draw_tickets, tickets_frame
from cs_assets.dev.simulator.timegrid import Calendar, ChunkGrid

# Independent random streams per concern, so changing one concern's draws leaves the
# others' untouched. Stream 0 is the population.
STREAMS = (
    "population",
    "lifecycle",
    "billing",
    "support",
    "churn",
    "activity",
    "tickets",
    "records",
    "feedback",
    "referrals",
)


def rng_for(seed: int, stream: str, chunk: int = 0) -> np.random.Generator:
    """The generator of one concern of one chunk: a pure function of (seed, stream, chunk)."""
    key = (STREAMS.index(stream), chunk)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class Outcome:
    """What the household-level outputs need from a chunk (small: one value per household)."""

    churn_us: np.ndarray  # churned_at, NEVER for stayers
    stop_us: np.ndarray  # min(churned_at, reference time)
    mechanism: np.ndarray  # index into MECHANISMS, -1 for stayers
    premium_features_30d: np.ndarray
    dip_start_us: np.ndarray
    onset_us: np.ndarray

    @classmethod
    def concat(cls, parts: list[Outcome]) -> Outcome:
        """All chunks' outcomes as one, in household order."""
        return cls(
            **{f.name: np.concatenate([getattr(o, f.name) for o in parts]) for f in fields(cls)}
        )


@dataclass(frozen=True)
class ChunkResult:
    events: Events  # chunk-local household index
    hazard: tuple[np.ndarray, ...]  # (h, day, hazard, p_churn_30d, p_churn_30d_known), local h
    frames: dict[str, pl.DataFrame]  # raw-table rows with a global household index `h`
    outcome: Outcome


def simulate_chunk(
    pop: Population,
    cal: Calendar,
    offsets: np.ndarray,
    p: SimulationParams,
    seed: int,
    index: int,
    offset: int,
) -> ChunkResult:
    """Households `offset .. offset + len(pop)` (chunk `index`)."""
    n = len(pop)
    life = draw_lifecycle(pop, p, rng_for(seed, "lifecycle", index))
    first = int(cal.day_of(pop.signup_us.min()))
    grid = ChunkGrid(first, cal.n_days - first)
    signup_day = cal.day_of(pop.signup_us)
    onset_day = cal.day_of(life.decline_onset_us)

    invoices = draw_invoices(pop, life, cal, p, rng_for(seed, "billing", index))
    lost_day = cal.day_of(invoices.due_us[invoices.unrecovered]) + p.payment_retry_days
    trouble = (
        grid.cover(n, invoices.h[invoices.unrecovered], lost_day, lost_day + p.payment_failure_days)
        > 0
    )
    tickets = draw_tickets(
        pop, life.decline_onset_us, cal, grid, p, rng_for(seed, "support", index)
    )
    inputs = HazardInputs(
        signup_day=signup_day,
        paid_start_day=cal.day_of(life.paid_start_us),
        premium_features_30d=life.premium_features_30d,
        onset_day=onset_day,
        downgrade_day=cal.day_of(life.downgrade_us),
        linear_predictor=linear_predictor(pop.plan, pop.pets0, pop.members0, pop.engagement, p),
        ticket_multiplier=tickets.multiplier,
        payment_trouble=trouble,
    )
    churn = draw_churn(inputs, pop.signup_us, grid, cal, p, rng_for(seed, "churn", index))
    hazard = hazard_truth(churn, signup_day, grid, cal, known_window_hazard(inputs, grid, p))
    churn_us, mechanism = churn.us, churn.mechanism
    del churn, inputs  # the (household x day) hazard is no longer needed
    stop_us = np.minimum(churn_us, cal.end_us)

    events = draw_events(pop, life, cal, offsets, stop_us, p, rng_for(seed, "activity", index))
    records = rng_for(seed, "records", index)
    feedback = rng_for(seed, "feedback", index)
    nps = nps_frame(pop, life, cal, grid, tickets.multiplier, trouble, stop_us, p, feedback, offset)
    frames = {
        "members": members_frame(life, stop_us, offset),
        "pets": pets_frame(life, stop_us, offset),
        "support_tickets": tickets_frame(
            tickets, pop, stop_us, p, rng_for(seed, "tickets", index), offset
        ),
        "subscription_changes": subscription_frame(pop, life, churn_us, stop_us, offset),
        "payments": payments_frame(invoices, stop_us, offset),
        "nps_responses": nps,
        "pet_health_observations": observations_frame(
            pop, life, cal, stop_us, p.tracked_pet_share, p.decline_days, records, offset
        ),
        "success_plans": success_plans_frame(pop, stop_us, records, offset),
        "reviews": reviews_frame(nps, stop_us, p, feedback, offset),
    }
    return ChunkResult(
        events=events,
        hazard=hazard,
        frames=frames,
        outcome=Outcome(
            churn_us=churn_us,
            stop_us=stop_us,
            mechanism=mechanism,
            premium_features_30d=life.premium_features_30d,
            dip_start_us=life.dip_start_us,
            onset_us=life.decline_onset_us,
        ),
    )
