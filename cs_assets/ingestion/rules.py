"""Row rules: each returns the offending rows as (row, rule, reason) so nothing is dropped silently.

`rule` is a stable name to count by; `reason` says what was wrong with that row.
"""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from cs_assets.contract.events import KINDS_REQUIRING_FEATURE, KINDS_REQUIRING_MINUTES, EventKind
from cs_assets.contract.product import PRODUCT
from cs_assets.contract.tables import (
    HEALTH_METRIC_RANGES,
    PII_COLUMNS,
    TableSpec,
    change_type_rank,
)
from cs_assets.ingestion.conform import ROW, ContractSchemaError, shown

REASONS_SCHEMA = {ROW: pl.UInt32, "rule": pl.String, "reason": pl.String}
NON_FINITE = ("NaN", "inf", "-inf")


def show(column: str) -> pl.Expr:
    """A column's values as reasons show them: text quoted and escaped (a trailing space or a
    zero-width space is visible), long values cut, personal data masked."""
    masked = column in PII_COLUMNS

    def _text(values: pl.Series) -> pl.Series:
        if values.dtype != pl.String:
            return values.cast(pl.String).fill_null("null")
        return pl.Series([shown(v, masked) if v is not None else "null"
                          for v in values.to_list()], dtype=pl.String)

    return pl.col(column).map_batches(_text, return_dtype=pl.String)


def _select(frame: pl.DataFrame, mask: pl.Expr, rule: str, reason: pl.Expr | str) -> pl.DataFrame:
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.filter(mask.fill_null(False)).select(
        pl.col(ROW), pl.lit(rule).alias("rule"), reason_expr.cast(pl.String).alias("reason")
    )


def empty_reasons() -> pl.DataFrame:
    return pl.DataFrame(schema=REASONS_SCHEMA)


def _failure_case_text(case: dict, spec: TableSpec) -> str:
    """A pandera failure case as the value it was, shown like every other reason's value."""
    value, column = case["failure_case"], case["column"]
    if spec.columns.get(column) == pl.String:
        return shown(value, column in spec.pii_columns)
    return "null" if value is None else str(value)


def pandera_reasons(spec: TableSpec, frame: pl.DataFrame,
                    converted: pl.DataFrame | None = None) -> pl.DataFrame:
    """Run the table's pandera model and turn its failure cases into row reasons.

    `converted` holds (row, column) of values the conversion already failed: their null is
    explained there. Non-finite floats are explained by `non_finite_reasons`."""
    try:
        spec.model.validate(frame.drop(ROW), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return empty_reasons()
    floats = [c for c, t in spec.columns.items() if t == pl.Float64]
    cases = cases.filter(
        ~(pl.col("column").is_in(floats) & pl.col("failure_case").is_in(NON_FINITE))
        .fill_null(False)  # a null case (a null in a required column) is not non-finite
    )
    if converted is not None and converted.height:
        cases = cases.join(
            converted.select(pl.col(ROW).cast(pl.Int64).alias("_row"), "column").unique(),
            left_on=[pl.col("index").cast(pl.Int64), "column"], right_on=["_row", "column"],
            how="anti",
        )
    schema_level = cases.filter(pl.col("index").is_null())
    if schema_level.height:
        first = schema_level.row(0, named=True)
        raise ContractSchemaError(
            f"table '{spec.name}', column '{first['column']}': {first['check']} "
            f"(got {_failure_case_text(first, spec)})"
        )
    value = pl.struct("failure_case", "column").map_elements(
        lambda case: _failure_case_text(case, spec), return_dtype=pl.String)
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
        .then(pl.format("{} {} is not an allowed value", pl.col("column"), value))
        .otherwise(pl.format("{} fails {} (got {})", pl.col("column"), pl.col("check"), value))
    )
    return cases.select(
        pl.col("index").cast(pl.UInt32).alias(ROW), rule.alias("rule"), reason.alias("reason")
    )


def duplicate_key_reasons(spec: TableSpec, frame: pl.DataFrame,
                          invalid_rows: pl.Series) -> pl.DataFrame:
    """Of the rows sharing a key, the first *valid* one is kept: an invalid copy coming first
    must not take the good one, and the household's children, down with it."""
    candidates = frame.filter(pl.col(spec.key).is_not_null() & pl.col(spec.key).is_duplicated())
    candidates = candidates.filter(~pl.col(ROW).is_in(invalid_rows.implode())).with_columns(
        _kept=pl.col(ROW).min().over(spec.key))
    return _select(
        candidates,
        pl.col(ROW) != pl.col("_kept"),
        f"{spec.name}.{spec.key}: duplicate",
        pl.format("duplicate {} {} (row {} kept)", pl.lit(spec.key), show(spec.key),
                  pl.col("_kept")),
    )


def non_finite_reasons(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """NaN and infinities are no measurement: an `mrr` of inf would poison every sum."""
    parts = [
        _select(frame, pl.col(col).is_nan() | pl.col(col).is_infinite(),
                f"{spec.name}.{col}: not finite",
                pl.format("{} {} is not a finite number", pl.lit(col), show(col)))
        for col, dtype in spec.columns.items() if dtype == pl.Float64
    ]
    return pl.concat(parts) if parts else empty_reasons()


def measurement_range_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """Each pet-health metric within the range the contract gives it."""
    ranges = pl.DataFrame(
        [(m, lo, hi) for m, (lo, hi) in HEALTH_METRIC_RANGES.items()],
        schema={"metric": pl.String, "_low": pl.Float64, "_high": pl.Float64}, orient="row",
    )
    value = pl.col("value")
    return _select(
        frame.join(ranges, on="metric", how="left"),
        (value < pl.col("_low")) | (value > pl.col("_high")),
        "pet_health_observations.value: outside the metric's range",
        pl.format("value {} is outside {}'s range {} to {}", value, pl.col("metric"),
                  pl.col("_low"), pl.col("_high")),
    )


def plan_history_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """A household's plan history must read as one story: one `new` row, first; each later
    change starting from the plan the household held after the changes accepted before it.
    Rows at the same instant are read in change-type order, then by change_id, whatever their
    order in the file. Sequential by nature, so read row by row (a few rows per household)."""
    ordered = frame.filter(pl.col("household_id").is_not_null()).sort(
        "household_id", "changed_at", change_type_rank(), "change_id", nulls_last=True
    )
    has_new = set(ordered.filter(pl.col("change_type") == "new")["household_id"])
    found: list[tuple[int, str, str]] = []
    household, first_new, held, after = None, None, None, None
    columns = ("household_id", "change_type", "from_plan", "to_plan", "change_id", ROW)
    for hh, kind, from_plan, to_plan, change_id, row in ordered.select(columns).iter_rows():
        if hh != household:
            household, first_new, held, after = hh, None, None, None
        if kind == "new" and first_new is not None:
            found.append((row, "subscription_changes: second new row",
                          f"a second 'new' row for household {shown(hh)} "
                          f"(the first is {shown(first_new)})"))
            continue
        if kind != "new" and first_new is None and hh in has_new:
            found.append((row, "subscription_changes: change before the new row",
                          f"{kind} before the household's 'new' row"))
            continue
        if kind != "new" and held is not None and from_plan != held:
            found.append((row, "subscription_changes: from a plan not held",
                          f"{kind} from {shown(from_plan)} but the household held "
                          f"{shown(held)} (after {shown(after)})"))
            continue
        if kind == "new":
            first_new = change_id
        held, after = to_plan, change_id
    return pl.DataFrame(found, schema=REASONS_SCHEMA, orient="row")


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
        pl.format("{} {} does not exist in {}", pl.lit(spec.parent_column),
                  show(spec.parent_column), pl.lit(spec.parent)),
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
        pl.format("user_id {} is not a member of household {}", show("user_id"),
                  show("household_id")),
    )


def event_kind_expr(mapping: dict[str, EventKind]) -> pl.Expr:
    """The canonical kind of each event (null where the product's event type is unmapped)."""
    return pl.col("event_type").replace_strict(
        {k: v.value for k, v in mapping.items()}, default=None, return_dtype=pl.String
    )


def event_payload_reasons(frame: pl.DataFrame, mapping: dict[str, EventKind]) -> pl.DataFrame:
    """Session events need minutes (where the product's sessions have them) and feature events
    need a feature name to mean anything."""
    kind = event_kind_expr(mapping)
    minutes = {k.value for k in KINDS_REQUIRING_MINUTES} if PRODUCT.sessions_have_minutes else ()
    features = {k.value for k in KINDS_REQUIRING_FEATURE}
    return pl.concat([
        _select(
            frame,
            kind.is_in(list(minutes)) & pl.col("session_minutes").is_null(),
            "activity_events.session_minutes: missing for a session",
            pl.format("{} event without session_minutes", show("event_type")),
        ),
        _select(
            frame,
            kind.is_in(list(features)) & pl.col("feature_name").is_null(),
            "activity_events.feature_name: missing for a feature event",
            pl.format("{} event without feature_name", show("event_type")),
        ),
    ])
