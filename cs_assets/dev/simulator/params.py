"""Frozen parameters of the demo-data simulator, each with the reason for its value.

Rates are per household-day unless the name says otherwise. The values plant the
spec's mechanisms (War stories 1-3, the Cox table of the survival section) at a
strength the platform can measure on a few thousand households.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PLANS = ("Free", "Premium", "Enterprise")
PLAN_PRICES = (0.0, 100.0, 500.0)  # War story 3: 45 downgraders = $4,500 MRR -> $100/month

# Churn mechanisms as written to `_truth/households.parquet` (null = did not churn).
MECHANISMS = (
    "profile_risk",
    "no_signal",
    "support_frustration",
    "silent_decline",
    "premium_downgrade",
    "payment_failure",
)


@dataclass(frozen=True)
class Scale:
    """How big a simulated world is."""

    households: int  # default household count for this scale
    signup_spread_days: int  # signups are spread over this many days before end_date
    activity_days: int  # activity events and pet observations cover this many days before end_date
    # Multiplies the recurring activity rates (logins, tasks, feature use, photos, ...): the
    # bench is a busier product than the demo so its 120 days hold about 70M events.
    activity_factor: float = 1.0


SCALES: dict[str, Scale] = {
    # Two years of signups and activity: 12 months of weekly observations and
    # quarter-over-quarter figures exist for most households.
    "demo": Scale(households=3000, signup_spread_days=730, activity_days=730),
    # DESIGN.md bench: 200,000 households x 120 days of features.
    "bench": Scale(
        households=200_000, signup_spread_days=365, activity_days=120, activity_factor=1.3
    ),
}


@dataclass(frozen=True)
class SimulationParams:
    """Every knob of the generative model; defaults are the frozen demo values."""

    # --- population -------------------------------------------------------------------
    region_shares: tuple[float, ...] = (0.55, 0.30, 0.15)  # US / EU / APAC (brief)
    plan_shares: tuple[float, ...] = (0.70, 0.25, 0.05)  # Free / Premium / Enterprise at signup
    # Initial members 1..5 and pets 1..4, skewed small: most households are one or two people.
    initial_members_probs: tuple[float, ...] = (0.35, 0.30, 0.18, 0.11, 0.06)
    initial_pets_probs: tuple[float, ...] = (0.45, 0.30, 0.15, 0.10)
    signup_growth_per_year: float = 0.5  # signups/day grow 50 % a year: a growing product
    null_timezone_share: float = 0.02  # some households never set a zone (contract: UTC if null)
    email_opt_out_share: float = 0.08
    referral_issue_share: float = 0.20  # households that get a referral code ...
    referral_issue_engagement: float = 0.6  # ... more often when engaged (logit slope per SD)
    referral_issue_mean_days: float = 60.0  # code issued 14 + Exp(60) days after signup
    referral_use_share: float = 0.10  # later signups that used an issued code
    unknown_referral_share: float = 0.01  # codes the product never issued (typos, legacy format)

    # --- profile risk: the Cox table of the survival section --------------------------
    weibull_shape: float = 0.7  # baseline hazard falls with tenure: early churn is heaviest
    # One-year profile churn of the reference household (Free, one pet, the owner alone,
    # average engagement); sets the Weibull scale. Tuned so that 30-40 % of all
    # households churn within their first year once every mechanism is added.
    reference_first_year_churn: float = 0.26
    ph_only_reference_first_year_churn: float = 0.5  # ph_only: the Cox part carries all churn
    hr_premium: float = 0.42  # plan_type[Premium]
    hr_pet: float = 0.88  # per initial pet
    hr_member: float = 0.75  # per initial member
    hr_premium_feature: float = 0.65  # per Premium feature adopted in the first 30 paid days
    hr_health_point: float = 0.97  # per health point; latent engagement stands in for health
    health_points_per_sd: float = 10.0  # one SD of engagement = 10 points: 0.97**10 = exp(-0.305)
    health_mean: float = 60.0  # health_equivalent = clip(60 + 10 e, 0, 100)

    # --- no signal: churn with no behavioural trace (moved, lost a pet, price) ---------
    no_signal_hazard: float = 0.0005  # ~17 %/year; keeps >= 30 % of churners traceless

    # --- silent decline (War story 1) ---------------------------------------------------
    decline_onset_hazard: float = 0.00022  # onsets per household-day once past min tenure
    decline_min_tenure_days: int = 60  # a decline needs an established habit to decline from
    decline_days: int = 56  # task completions fall linearly by ...
    decline_drop: float = 0.8  # ... 80 % over those 8 weeks (War story 1); logins stay flat;
    decline_min_level: float = 0.05  # the fall goes on at that pace down to 5 % of normal
    # Churn hazard of a decline: 0 until week 7, rising as ((tau - 49) / 14)**2 to its
    # maximum at week 9. Most leave 8-11 weeks after onset, when the last four weeks
    # hold under half the tasks of the four before (the spec's value-delivery signal).
    decline_hazard_start_days: int = 49
    decline_hazard_full_days: int = 63
    decline_max_hazard: float = 0.12
    decline_hazard_power: float = 2.0
    benign_dip_hazard: float = 0.0004  # dips per household-day: a task-decline alert misfires
    benign_dip_min_tenure_days: int = 45
    benign_dip_depth: tuple[float, float] = (0.4, 0.6)  # tasks fall 40-60 % ...
    benign_dip_days: tuple[int, int] = (21, 42)  # ... for 3-6 weeks, then recover; no hazard

    # --- support (War story 2) ----------------------------------------------------------
    # Support habits: never / occasional / frequent / high-touch. Tickets come as a
    # renewal process with gamma gaps, so a household's 90-day bucket is mostly its
    # habit rather than Poisson luck and the bucket effect persists (War story 2).
    support_class_shares: tuple[float, ...] = (0.40, 0.37, 0.15, 0.08)
    never_ticket_engagement: float = 0.5  # never-ticket households lean disengaged (logit/SD)
    ticket_gap_days: tuple[float, ...] = (55.0, 22.0, 8.0)  # occasional, frequent, high-touch
    ticket_gap_shape: tuple[float, ...] = (6.0, 6.0, 2.0)  # regular habits; high-touch bursts
    # CSAT 1..5 per ticket by class: means 4.8 / 4.25 / 3.1 (the spec's buckets: 4.5+,
    # 4.0+, < 4.0). Frequent askers' windows dip under 4.0 now and then and lose the
    # 3-5 bonus, which keeps the 1-2 bucket clearly the most loyal.
    csat_probs: tuple[tuple[float, ...], ...] = (
        (0.005, 0.01, 0.025, 0.09, 0.87),
        (0.02, 0.04, 0.10, 0.35, 0.49),
        (0.12, 0.18, 0.30, 0.25, 0.15),
    )
    decline_ticket_damping: float = 1.0  # silent decliners stop asking for help (none did)
    # Hazard multipliers on profile + no-signal hazard by trailing-90-day tickets (spec
    # table 8.5 / 4.2 / 6.1 / 15.3 %). Multipliers < 1 lower the base; the excess over 1
    # is support_frustration.
    ticket_window_days: int = 90
    ticket_mult_1_2_good: float = 0.5  # 1-2 tickets, mean CSAT >= 4.5
    ticket_mult_3_5_good: float = 0.72  # 3-5 tickets, mean CSAT >= 4.0
    ticket_mult_6_plus_poor: float = 1.8  # 6+ tickets, mean CSAT < 4.0
    ticket_mult_6_plus_other: float = 1.3  # 6+ tickets, well handled: volume alone hurts
    ticket_mult_poor_experience: float = 1.3  # 1-5 tickets with mean CSAT < 3.5
    ticket_priority_probs: tuple[float, ...] = (0.35, 0.40, 0.20, 0.05)  # low..critical
    resolution_median_hours: tuple[float, ...] = (30.0, 20.0, 10.0, 4.0)  # low..critical
    resolution_sigma: float = 0.9  # lognormal spread of resolution hours
    unresolved_share: float = 0.03  # tickets never resolved
    critical_stuck_share: float = 0.15  # critical tickets stuck for days (median 8 days)
    csat_response_share: float = 0.75  # resolved tickets whose CSAT survey was answered

    # --- Premium (War story 3) ----------------------------------------------------------
    adoption_beta: tuple[float, float] = (1.6, 1.6)  # Premium adoption propensity a ~ Beta
    # Mean days to adopt calendar sync / analytics / templates / priority support at a = 1;
    # the time scales as 1/a. Gives retained-vs-downgrader gaps like the spec's 65 vs 15 %.
    premium_feature_mean_days: tuple[float, ...] = (14.0, 24.0, 20.0, 35.0)
    upgrade_hazard: float = 0.0004  # Free -> Premium per day (~14 %/year) ...
    upgrade_engagement: float = 0.4  # ... times exp(0.4 e): engaged households upgrade
    upgrade_intent_days: int = 21  # premium page views / clicks in the three weeks before ...
    intent_rates: tuple[float, float] = (0.15, 0.10)  # ... page views, feature clicks per day
    browse_rates: tuple[float, float] = (0.004, 0.002)  # Free households browsing, not buying
    trial_share: float = 0.6  # upgraders who started a trial 7-14 days before paying
    downgrade_hazard_by_features: tuple[float, ...] = (0.0035, 0.0018)  # pf = 0, 1; none above
    downgrade_grace_days: int = 30  # low adopters downgrade from 30 paid days on
    post_downgrade_hazard: float = 0.027  # 1 - exp(-60 x 0.027) = 80 % churn within 60 days
    post_downgrade_days: int = 90

    # --- payments -----------------------------------------------------------------------
    payment_failure_share: float = 0.02
    payment_recovery_share: float = 0.5  # failed invoices paid on a retry ...
    payment_retry_days: int = 7  # ... within a week; the others stay failed
    payment_refund_share: float = 0.005
    payment_failure_hazard: float = 0.02  # churn hazard after a failure the retry did not fix
    payment_failure_days: int = 30  # ... for 30 days from the end of the retry week

    # --- activity (per active household-day; ~3 events in total) -------------------------
    login_rate: float = 0.55  # per owner-equivalent; other members log in half as often
    session_share: float = 0.85  # logins followed by an app_session
    session_median_minutes: float = 8.0
    session_sigma: float = 0.6
    task_rate: float = 0.45  # times active pets**0.7: value events grow with the household
    feature_use_rate: float = 0.30
    recurring_task_rate: float = 0.03  # per pet; tripled during the first 30 days
    photo_rate: float = 0.06  # per pet
    engagement_activity: float = 0.35  # log-rate slope of activity on latent engagement
    weekend_factor: float = 1.15  # pet care does not stop at weekends; sessions a bit more
    # Per day once adopted: analytics views, template creations, priority-support requests
    # (~2.1 a month, the spec's retained customers). Calendar sync is a one-off.
    premium_event_rates: tuple[float, ...] = (0.15, 0.03, 0.07)
    core_feature_initial: tuple[int, int] = (1, 3)  # core features in use at signup
    core_feature_mean_days: float = 45.0  # then one more every ~45 days, sooner if engaged
    member_growth_per_year: float = 0.35  # members joining after signup
    member_removal_share: float = 0.08
    pet_growth_per_year: float = 0.25
    pet_removal_per_year: float = 0.03
    pet_medical_share: float = 0.15  # pets with medical needs (brief)

    # --- feedback -----------------------------------------------------------------------
    nps_first_day: int = 30  # onboarding NPS, then quarterly
    nps_every_days: int = 90
    nps_response_share: float = 0.30
    nps_comment_share: float = 0.60
    review_promoter_share: float = 0.30
    review_detractor_share: float = 0.06
    tracked_pet_share: float = 0.30  # pets with weekly wellness observations

    # --- execution ----------------------------------------------------------------------
    chunk_households: int = 20_000  # households per chunk: bounds bench memory

    def busier(self, factor: float) -> SimulationParams:
        """The same world with every recurring activity rate times `factor` (more events per
        active household-day; hazards, lifecycles and one-off events are unchanged)."""
        return replace(
            self,
            login_rate=self.login_rate * factor,
            task_rate=self.task_rate * factor,
            feature_use_rate=self.feature_use_rate * factor,
            recurring_task_rate=self.recurring_task_rate * factor,
            photo_rate=self.photo_rate * factor,
        )

    def proportional_hazards_only(self) -> SimulationParams:
        """The same world with only the Cox component, so a Cox fit recovers its ratios.

        The baseline is raised so that about as many households churn as in the full
        world (the Cox part then carries every churn, which also tightens the fit).
        """
        return replace(
            self,
            reference_first_year_churn=self.ph_only_reference_first_year_churn,
            no_signal_hazard=0.0,
            decline_onset_hazard=0.0,
            ticket_mult_1_2_good=1.0,
            ticket_mult_3_5_good=1.0,
            ticket_mult_6_plus_poor=1.0,
            ticket_mult_6_plus_other=1.0,
            ticket_mult_poor_experience=1.0,
            upgrade_hazard=0.0,
            downgrade_hazard_by_features=(0.0, 0.0),
            payment_failure_hazard=0.0,
        )
