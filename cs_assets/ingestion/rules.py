"""Row rules: each returns the offending rows as (row, rule, reason) so nothing is dropped silently.

`rule` is a stable name to count by; `reason` says what was wrong with that row.
"""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from cs_assets.contract.events import KINDS_REQUIRING_FEATURE, KINDS_REQUIRING_MINUTES, EventKind
from cs_assets.contract.tables import TableSpec
from cs_assets.ingestion.conform import ROW, ContractSchemaError

REASONS_SCHEMA = {ROW: pl.UInt32, "rule": pl.String, "reason": pl.String}


def _select(frame: pl.DataFrame, mask: pl.Expr, rule: str, reason: pl.Expr | str) -> pl.DataFrame:
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.filter(mask.fill_null(False)).select(
        pl.col(ROW), pl.lit(rule).alias("rule"), reason_expr.cast(pl.String).alias("reason")
    )


def empty_reasons() -> pl.DataFrame:
    return pl.DataFrame(schema=REASONS_SCHEMA)


def pandera_reasons(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """Run the table's pandera model and turn its failure cases into row reasons."""
    try:
        spec.model.validate(frame.drop(ROW), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return empty_reasons()
    schema_level = cases.filter(pl.col("index").is_null())
    if schema_level.height:
        first = schema_level.row(0, named=True)
        raise ContractSchemaError(
            f"table '{spec.name}', column '{first['column']}': {first['check']} "
            f"(got {first['failure_case']})"
        )
    is_frame_check = pl.col("schema_context") == "DataFrameSchema"
    # Allowed-value lists can be long (time zones): name the check, not the list.
    is_allowed = pl.col("check").str.starts_with("isin(")
    check = pl.when(is_allowed).then(pl.lit("allowed values")).otherwise(pl.col("check"))
    rule = (
        pl.when(is_frame_check)
        .then(pl.format("{}: {}", pl.lit(spec.name), check))
        .otherwise(pl.format("{}.{}: {}", pl.lit(spec.name), pl.col("column"), check))
    )
    reason = (
        pl.when(is_frame_check)
        .then(pl.col("check"))
        .when(pl.col("check") == "not_nullable")
        .then(pl.format("{} is null", pl.col("column")))
        .when(is_allowed)
        .then(pl.format("{} {} is not an allowed value", pl.col("column"), pl.col("failure_case")))
        .otherwise(
            pl.format("{} fails {} (got {})", pl.col("column"), pl.col("check"),
                      pl.col("failure_case"))
        )
    )
    return cases.select(
        pl.col("index").cast(pl.UInt32).alias(ROW), rule.alias("rule"), reason.alias("reason")
    )


def duplicate_key_reasons(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    key = pl.col(spec.key)
    return _select(
        frame,
        key.is_not_null() & ~key.is_first_distinct(),
        f"{spec.name}.{spec.key}: duplicate",
        pl.format("duplicate {} {} (first occurrence kept)", pl.lit(spec.key), key),
    )


def future_reasons(spec: TableSpec, frame: pl.DataFrame, reference_time: datetime) -> pl.DataFrame:
    """Times at or after the reference time cannot have been observed yet."""
    parts = [
        _select(
            frame,
            pl.col(col) >= pl.lit(reference_time),
            f"{spec.name}.{col}: after reference time",
            pl.format("{} {} is not before the reference time {}", pl.lit(col), pl.col(col),
                      pl.lit(reference_time.isoformat())),
        )
        for col in spec.future_columns
    ]
    return pl.concat(parts) if parts else empty_reasons()


def parent_reasons(spec: TableSpec, frame: pl.DataFrame, parent_keys: pl.Series) -> pl.DataFrame:
    col = pl.col(spec.parent_column)
    return _select(
        frame,
        col.is_not_null() & ~col.is_in(parent_keys.implode()),
        f"{spec.name}.{spec.parent_column}: unknown",
        pl.format("{} {} does not exist in {}", pl.lit(spec.parent_column), col,
                  pl.lit(spec.parent)),
    )


def before_signup_reasons(
    spec: TableSpec, frame: pl.DataFrame, households: pl.DataFrame
) -> pl.DataFrame:
    if not spec.after_signup_columns:
        return empty_reasons()
    joined = frame.join(
        households.select("household_id", pl.col("created_at").alias("_signup")),
        on="household_id",
        how="left",
    )
    parts = [
        _select(
            joined,
            pl.col(col) < pl.col("_signup"),
            f"{spec.name}.{col}: before signup",
            pl.format("{} {} is before the household's signup {}", pl.lit(col), pl.col(col),
                      pl.col("_signup")),
        )
        for col in spec.after_signup_columns
    ]
    return pl.concat(parts)


def churn_agreement_reasons(frame: pl.DataFrame, households: pl.DataFrame) -> pl.DataFrame:
    """A cancellation row must fall on the household's churn day (households.churned_at wins)."""
    joined = frame.join(
        households.select("household_id", "churned_at"), on="household_id", how="left"
    )
    cancel = pl.col("change_type") == "cancel"
    no_churn = _select(
        joined,
        cancel & pl.col("churned_at").is_null(),
        "subscription_changes: cancel without churn",
        "cancellation row but households.churned_at is empty",
    )
    other_day = _select(
        joined,
        cancel
        & pl.col("churned_at").is_not_null()
        & (pl.col("changed_at").dt.date() != pl.col("churned_at").dt.date()),
        "subscription_changes: cancel disagrees with churned_at",
        pl.format("cancellation on {} disagrees with households.churned_at {}",
                  pl.col("changed_at").dt.date(), pl.col("churned_at").dt.date()),
    )
    after_churn = _select(
        joined,
        ~cancel & (pl.col("changed_at") > pl.col("churned_at")),
        "subscription_changes: change after churn",
        pl.format("{} on {} is after households.churned_at {}", pl.col("change_type"),
                  pl.col("changed_at").dt.date(), pl.col("churned_at").dt.date()),
    )
    return pl.concat([no_churn, other_day, after_churn])


def member_reasons(frame: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """An event's user must be a member of the event's household."""
    joined = frame.join(
        members.select("user_id", pl.col("household_id").alias("_member_household")),
        on="user_id",
        how="left",
    )
    user = pl.col("user_id")
    return _select(
        joined,
        user.is_not_null()
        & (pl.col("_member_household").is_null()
           | (pl.col("_member_household") != pl.col("household_id"))),
        "activity_events.user_id: not a member of the household",
        pl.format("user_id {} is not a member of household {}", user, pl.col("household_id")),
    )


def event_kind_expr(mapping: dict[str, EventKind]) -> pl.Expr:
    """The canonical kind of each event (null where the product's event type is unmapped)."""
    return pl.col("event_type").replace_strict(
        {k: v.value for k, v in mapping.items()}, default=None, return_dtype=pl.String
    )


def event_payload_reasons(frame: pl.DataFrame, mapping: dict[str, EventKind]) -> pl.DataFrame:
    """Session events need minutes and feature events need a feature name to mean anything."""
    kind = event_kind_expr(mapping)
    minutes = {k.value for k in KINDS_REQUIRING_MINUTES}
    features = {k.value for k in KINDS_REQUIRING_FEATURE}
    return pl.concat([
        _select(
            frame,
            kind.is_in(list(minutes)) & pl.col("session_minutes").is_null(),
            "activity_events.session_minutes: missing for a session",
            pl.format("{} event without session_minutes", pl.col("event_type")),
        ),
        _select(
            frame,
            kind.is_in(list(features)) & pl.col("feature_name").is_null(),
            "activity_events.feature_name: missing for a feature event",
            pl.format("{} event without feature_name", pl.col("event_type")),
        ),
    ])
