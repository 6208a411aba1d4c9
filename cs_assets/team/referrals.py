"""The referral program (the spec's "Building a Referral Program"): codes for advocates,
conversions, the rewards ledger and the 365-day leaderboard with the top-advocate tiers.

As-of day `D` (instant `T`, midnight UTC starting `D`) reads only rows before `T`: signups,
plan changes, reviews, and both sources of codes, the product's raw `referral_codes` and the
codes this platform issued (its own state), so a re-run of `D` gives the same answer.

Codes. The spec's `SARAH-PETS-2024` collides (two Sarahs) and can be guessed from a name and
a year. Ours are `REF-` + 8 symbols of a 32-symbol alphabet without lookalikes (no 0/O, 1/I),
the product's format: 40 bits, so a random guess hits one of 10,000 live codes about once in
10^8 tries. Each symbol comes from HMAC-SHA256(secret, "household_id:attempt"): without the
secret a code cannot be predicted from the household id, the date or other codes, yet the
same secret issues the same code again, so re-runs are reproducible and tests pass a fixed
secret as their seed. Production reads the secret from the environment (never from the
repository). A code already taken, by the product or the platform, compared case-blind, moves
to the next attempt. One code per household: holders of any code get no new one.

Conversions. A signup's `referral_code_used` (trimmed, upper-cased) that matches a code issued
no later than the signup, to another household, converts at the signup instant. A code is
reusable: each signup with it is a conversion (the spec stores one `refereeId` per code, so a
second signup would overwrite the first). Every other used code is kept in
`invalid_referral_codes` with a reason: `unknown_code`, `self_referral`,
`issued_after_signup`; a code not in our format is shown by its shape only, since the spec's
format embeds the owner's name.

Leaderboard. Conversions in the `window_days` before `T`, per referrer: successful referrals,
paid referrals (the spec's `premium_referrals`, with Enterprise counted too: referee's plan at
signup), the last referral. Ranked by successful desc, paid desc, then (our tie-breaks) the
earlier last referral (who got there first) and referrer_id; places are unique. Tiers by
place (spec: 1st, 2nd-3rd, 4th-10th).

Rewards. Referrer: a credit per conversion; referee: free Premium months (the spec's "1 month
Premium free"); reviews: see `reviews.review_rewards`; tiers: awarded once a year on the
award day from that day's leaderboard (the spec gives no schedule; its leaderboard spans a
year and the first prize is "1 year Premium free", so awarding more often would pay twice for
the same referrals). A credit granted at `t` expires at `t + credit_valid_days`: as of an
instant at or after that it is `expired`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta
from typing import Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import plan_history_order
from cs_assets.validated_config import StrictModel, Violation
from cs_assets.vocabulary import HH, UTC_TS, instant

CODE_PREFIX = "REF-"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each, no modulo bias
CODE_LENGTH = 8
MIN_SECRET_BYTES = 16
CODE_COLUMNS = ["code", HH, "issued_at"]
CODE_SCHEMA = {"code": pl.String, HH: pl.String, "issued_at": UTC_TS}
CONVERSION_COLUMNS = ["referee_id", "referrer_id", "code", "converted_at", "referee_plan"]
INVALID_CODE_COLUMNS = [HH, "code_used", "signed_up_at", "reason"]
LEADERBOARD_COLUMNS = ["place", "referrer_id", "successful_referrals", "paid_referrals",
                       "last_referral_at", "tier", "tier_credit_usd", "tier_premium_months"]
LEDGER_COLUMNS = ["reward_id", HH, "reason", "granted_at", "credit_usd", "credit_expires_at",
                  "credit_status", "premium_months"]
_GRANT_SCHEMA = {"reward_id": pl.String, HH: pl.String, "reason": pl.String,
                 "granted_at": UTC_TS, "credit_usd": pl.Float64, "premium_months": pl.Int64}


class Tier(StrictModel):
    name: str = Field(min_length=1)
    through_place: int = Field(ge=1)
    credit_usd: float = Field(ge=0)
    premium_months: int = Field(ge=0)


# The spec's rewardTopAdvocates: "1 year Premium free + $100 credit" for 1st, 6 months + $50
# for 2nd-3rd, 3 months + $25 for 4th-10th.
DEFAULT_TIERS = [
    Tier(name="first", through_place=1, credit_usd=100.0, premium_months=12),
    Tier(name="top_3", through_place=3, credit_usd=50.0, premium_months=6),
    Tier(name="top_10", through_place=10, credit_usd=25.0, premium_months=3),
]


class LeaderboardConfig(StrictModel):
    window_days: int = Field(365, ge=1)
    award_month: int = Field(1, ge=1, le=12)
    award_day: int = Field(1, ge=1, le=28)  # a day every month has
    tiers: list[Tier] = DEFAULT_TIERS

    @model_validator(mode="after")
    def _check(self) -> Self:
        places = [tier.through_place for tier in self.tiers]
        if places != sorted(set(places)):
            raise Violation("tiers", f"through_place must increase tier by tier, got {places}")
        return self


class RewardConfig(StrictModel):
    credit_valid_days: int = Field(365, ge=1)
    referrer_credit_usd: float = Field(10.0, ge=0)
    referee_premium_months: int = Field(1, ge=0)
    review_credit_usd: float = Field(20.0, ge=0)
    review_reward_every_days: int = Field(90, ge=1)


def _key(column: str) -> pl.Expr:
    """A code as a person types it: case and surrounding spaces do not matter."""
    return pl.col(column).str.strip_chars().str.to_uppercase()


def _shown(column: str) -> pl.Expr:
    """A used code as recorded if it has our format (random symbols carry no name), else only
    its shape: `SARAH-PETS-2025` becomes `XXXXX-XXXX-9999`, so no owner name is output."""
    ours = _key(column).str.contains(f"^{CODE_PREFIX}[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
    shape = pl.col(column).str.replace_all(r"[^\W\d_]", "X").str.replace_all(r"\d", "9")
    return pl.when(ours).then(pl.col(column)).otherwise(shape)


def _candidate_code(secret: bytes, household_id: str, attempt: int) -> str:
    digest = hmac.new(secret, f"{household_id}:{attempt}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[: CODE_LENGTH * 5 // 8])
    symbols = (CODE_ALPHABET[(number >> 5 * i) & 31] for i in range(CODE_LENGTH))
    return CODE_PREFIX + "".join(symbols)


def _codes_before(code_tables: list[pl.DataFrame], at: datetime) -> pl.LazyFrame:
    """All codes issued before `at`, one row per case-blind code: the first issued wins."""
    return (
        pl.concat([table.lazy().select(CODE_COLUMNS) for table in code_tables])
        .filter(pl.col("issued_at") < at)
        .with_columns(_key=_key("code"))
        .sort("issued_at", "code")
        .unique("_key", keep="first", maintain_order=True)
    )


def held_codes(codes: pl.DataFrame, at: datetime) -> pl.DataFrame:
    """(household_id, code): the code each household holds at `at`, the last issued at or
    before it by the product or the platform; what a referral invitation quotes."""
    return (
        codes.lazy().select(CODE_COLUMNS).filter(pl.col("issued_at") <= at)
        .sort("issued_at", "code")
        .group_by(HH).agg(pl.col("code").last())
        .collect()
    )


def issue_referral_codes(
    advocates: pl.DataFrame,
    referral_codes: pl.DataFrame,
    platform_codes: pl.DataFrame,
    as_of: date,
    *,
    secret: bytes,
) -> pl.DataFrame:
    """New codes (CODE_COLUMNS, issued at the as-of instant) for advocates holding none.

    `advocates` has household_id; `referral_codes` are the product's, `platform_codes` the
    ones this function issued on earlier days (each: code, household_id, issued_at).
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the referral secret must be at least {MIN_SECRET_BYTES} bytes")
    at = instant(as_of)
    existing = _codes_before([referral_codes, platform_codes], at).collect()
    taken = set(existing["_key"].to_list())
    holders = existing.select(HH)
    rows = []
    for (household_id,) in (
        advocates.select(HH).unique().join(holders, on=HH, how="anti").sort(HH).iter_rows()
    ):
        attempt = 0
        while (code := _candidate_code(secret, household_id, attempt)) in taken:
            attempt += 1
        taken.add(code)
        rows.append((code, household_id, at))
    return pl.DataFrame(rows, schema={"code": pl.String, HH: pl.String, "issued_at": UTC_TS},
                        orient="row")


def _signup_plans(subscription_changes: pl.DataFrame, at: datetime) -> pl.LazyFrame:
    return (
        subscription_changes.lazy().filter(pl.col("changed_at") < at)
        .sort(plan_history_order())
        .group_by(HH).agg(referee_plan=pl.col("to_plan").first())
    )


def referral_conversions(
    households: pl.DataFrame,
    referral_codes: pl.DataFrame,
    platform_codes: pl.DataFrame,
    subscription_changes: pl.DataFrame,
    as_of: date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(conversions, invalid_referral_codes) among signups before the as-of instant.

    Conversions: CONVERSION_COLUMNS by converted_at, referee_id; invalid codes:
    INVALID_CODE_COLUMNS by signed_up_at, household_id. `referee_plan` is the plan at signup.
    """
    at = instant(as_of)
    codes = _codes_before([referral_codes, platform_codes], at).select(
        "_key", "code", _holder=HH, _issued_at="issued_at"
    )
    used = (
        households.lazy()
        .filter((pl.col("created_at") < at) & pl.col("referral_code_used").is_not_null())
        .select(HH, code_used=_shown("referral_code_used"), signed_up_at="created_at",
                _key=_key("referral_code_used"))
        .join(codes, on="_key", how="left")
    )
    reason = (
        pl.when(pl.col("_holder").is_null()).then(pl.lit("unknown_code"))
        .when(pl.col("_holder") == pl.col(HH)).then(pl.lit("self_referral"))
        .when(pl.col("_issued_at") > pl.col("signed_up_at")).then(pl.lit("issued_after_signup"))
    )
    used = used.with_columns(reason=reason).collect()
    invalid = used.filter(pl.col("reason").is_not_null()).select(INVALID_CODE_COLUMNS)
    conversions = used.filter(pl.col("reason").is_null()).lazy().select(
        referee_id=HH, referrer_id="_holder", code="code", converted_at="signed_up_at",
    ).join(_signup_plans(subscription_changes, at), left_on="referee_id", right_on=HH,
           how="left")
    return (conversions.select(CONVERSION_COLUMNS).sort("converted_at", "referee_id").collect(),
            invalid.sort("signed_up_at", HH))


def leaderboard(conversions: pl.DataFrame, as_of: date,
                config: LeaderboardConfig | None = None) -> pl.DataFrame:
    """Referrers ranked over the `window_days` before the as-of instant (LEADERBOARD_COLUMNS),
    with the tier their place earns (null beyond the last tier)."""
    config = config or LeaderboardConfig()
    at = instant(as_of)
    ranked = (
        conversions.lazy()
        .filter((pl.col("converted_at") >= at - timedelta(days=config.window_days))
                & (pl.col("converted_at") < at))
        .group_by("referrer_id").agg(
            successful_referrals=pl.len().cast(pl.Int64),
            paid_referrals=pl.col("referee_plan").is_in(PRODUCT.paid_plans).sum().cast(pl.Int64),
            last_referral_at=pl.col("converted_at").max(),
        )
        .sort("successful_referrals", "paid_referrals", "last_referral_at", "referrer_id",
              descending=[True, True, False, False])
        .with_row_index("place", offset=1)
        .with_columns(pl.col("place").cast(pl.Int64))
        .collect()
    )
    tiers = pl.DataFrame(
        [(t.through_place, t.name, t.credit_usd, t.premium_months) for t in config.tiers],
        schema={"place": pl.Int64, "tier": pl.String, "tier_credit_usd": pl.Float64,
                "tier_premium_months": pl.Int64}, orient="row",
    ).sort("place")
    within = ranked.join_asof(tiers, on="place", strategy="forward")
    return within.select(LEADERBOARD_COLUMNS)


def _award_days(conversions: pl.DataFrame, as_of: date, config: LeaderboardConfig) -> list[date]:
    """Award days after the first conversion, up to and including `as_of`."""
    if conversions.is_empty():
        return []
    first = conversions["converted_at"].min().date()
    days = (date(year, config.award_month, config.award_day)
            for year in range(first.year, as_of.year + 1))
    return [day for day in days if first < day <= as_of]


def _tier_awards(conversions: pl.DataFrame, as_of: date,
                 config: LeaderboardConfig) -> pl.DataFrame:
    frames = [
        leaderboard(conversions, day, config).filter(pl.col("tier").is_not_null()).select(
            reward_id=pl.format("leaderboard:{}:{}", pl.lit(day.isoformat()), "place"),
            household_id="referrer_id", reason=pl.lit("leaderboard_tier"),
            granted_at=pl.lit(instant(day), UTC_TS), credit_usd="tier_credit_usd",
            premium_months="tier_premium_months",
        )
        for day in _award_days(conversions, as_of, config)
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=_GRANT_SCHEMA)


def rewards_ledger(
    conversions: pl.DataFrame,
    review_rewards: pl.DataFrame,
    as_of: date,
    rewards: RewardConfig | None = None,
    leaderboard_config: LeaderboardConfig | None = None,
) -> pl.DataFrame:
    """Every reward granted up to the as-of day (LEDGER_COLUMNS, by granted_at, reward_id).

    Inputs are `referral_conversions` and `reviews.review_rewards` for the same day. Reasons:
    `referral_referrer`, `referral_referee`, `review`, `leaderboard_tier`; `reward_id` is
    stable across days. `credit_status` is null for rewards without a credit.
    """
    rewards = rewards or RewardConfig()
    leaderboard_config = leaderboard_config or LeaderboardConfig()
    at = instant(as_of)
    conversions = conversions.filter(pl.col("converted_at") < at)
    referrer = conversions.select(
        reward_id=pl.format("referral_referrer:{}", "referee_id"), household_id="referrer_id",
        reason=pl.lit("referral_referrer"), granted_at="converted_at",
        credit_usd=pl.lit(rewards.referrer_credit_usd), premium_months=pl.lit(0, pl.Int64),
    )
    referee = conversions.select(
        reward_id=pl.format("referral_referee:{}", "referee_id"), household_id="referee_id",
        reason=pl.lit("referral_referee"), granted_at="converted_at",
        credit_usd=pl.lit(0.0), premium_months=pl.lit(rewards.referee_premium_months, pl.Int64),
    )
    review = review_rewards.filter(pl.col("submitted_at") < at).select(
        reward_id=pl.format("review:{}", "review_id"), household_id=HH, reason=pl.lit("review"),
        granted_at="submitted_at", credit_usd="credit_usd", premium_months=pl.lit(0, pl.Int64),
    )
    grants = pl.concat([frame.cast(_GRANT_SCHEMA) for frame in (
        referrer, referee, review, _tier_awards(conversions, as_of, leaderboard_config))])
    has_credit = pl.col("credit_usd") > 0
    expires = pl.col("granted_at") + timedelta(days=rewards.credit_valid_days)
    return grants.with_columns(
        credit_expires_at=pl.when(has_credit).then(expires),
        credit_status=pl.when(has_credit).then(
            pl.when(expires <= at).then(pl.lit("expired")).otherwise(pl.lit("active"))
        ),
    ).select(LEDGER_COLUMNS).sort("granted_at", "reward_id")
