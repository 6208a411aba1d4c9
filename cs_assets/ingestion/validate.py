"""Validate one raw table: valid rows go on, every invalid row goes to quarantine with reasons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from cs_assets.contract.events import EventKind
from cs_assets.contract.tables import TableSpec
from cs_assets.ingestion import rules
from cs_assets.ingestion.conform import ROW, RawPart, conform

REASON = "quarantine_reason"

# The validated tables a table's row rules look up (foreign keys, signup, membership);
# tables not listed look up households only.
LOOKUPS: dict[str, tuple[str, ...]] = {
    "households": (),
    "members": ("households",),
    "pets": ("households",),
    "activity_events": ("households", "members"),
    "pet_health_observations": ("pets",),
}


def lookup_tables(table: str) -> tuple[str, ...]:
    return LOOKUPS.get(table, ("households",))


RULES = "quarantine_rules"
# The values as they arrived that could not be converted to the contract's type (JSON text),
# so a quarantined NPS score of 7.5 is not lost as null
ORIGINAL = "quarantine_original_values"


@dataclass
class ValidationResult:
    table: str
    valid: pl.DataFrame
    # contract columns + _source_row + quarantine_rules + quarantine_reason + original values
    quarantine: pl.DataFrame
    extra_columns: list[str] = field(default_factory=list)
    sources: int = 1  # files (or database tables) the rows came from

    @property
    def input_rows(self) -> int:
        return self.valid.height + self.quarantine.height

    @property
    def invalid_share(self) -> float:
        return self.quarantine.height / self.input_rows if self.input_rows else 0.0

    def rule_counts(self) -> dict[str, int]:
        if not self.quarantine.height:
            return {}
        counts = self.quarantine.select(pl.col(RULES).explode()).group_by(RULES).len()
        return dict(sorted(counts.iter_rows(), key=lambda kv: (-kv[1], kv[0])))


def _originals(failures: pl.DataFrame) -> pl.DataFrame:
    """(ROW, ORIGINAL): per row, the values as they arrived that conversion could not keep,
    as a JSON object of text (`{"score": "7.5"}`)."""
    kept = failures.filter(pl.col("original").is_not_null())
    grouped = kept.group_by(ROW, maintain_order=True).agg("column", "original")
    return pl.DataFrame({
        ROW: grouped[ROW],
        ORIGINAL: [json.dumps(dict(zip(c, o, strict=True)))
                   for c, o in zip(grouped["column"], grouped["original"], strict=True)],
    }, schema={ROW: pl.UInt32, ORIGINAL: pl.String})


def validate_table(
    spec: TableSpec,
    raw: Sequence[RawPart] | pl.DataFrame,
    *,
    reference_time: datetime,
    parents: dict[str, pl.DataFrame] | None = None,
    event_mapping: dict[str, EventKind] | None = None,
) -> ValidationResult:
    """Split `raw` into valid and quarantined rows; valid + quarantined always equals input.

    `raw` is the table as it arrived, in parts (files) or as one frame. `parents` holds the
    already-validated tables this one refers to (households, pets, members). Raises
    ContractSchemaError for schema problems.
    """
    parents = parents or {}
    conformed = conform(spec, raw)
    frame = conformed.frame
    found = [
        conformed.failures.select(
            ROW, rule=pl.format("{}.{}: unreadable value", pl.lit(spec.name), pl.col("column")),
            reason="reason",
        ),
        rules.pandera_reasons(spec, frame, conformed.failures),
        rules.non_finite_reasons(spec, frame),
        rules.future_reasons(spec, frame, reference_time),
    ]
    if spec.parent is not None:
        parent = parents[spec.parent]
        parent_key = "household_id" if spec.parent == "households" else spec.parent_column
        found.append(rules.parent_reasons(spec, frame, parent[parent_key]))
    if "households" in parents and "household_id" in frame.columns:
        found.append(rules.before_signup_reasons(spec, frame, parents["households"]))
    if spec.name == "subscription_changes":
        found.append(rules.churn_agreement_reasons(frame, parents["households"]))
        found.append(rules.plan_history_reasons(frame))
    if spec.name == "pet_health_observations":
        found.append(rules.measurement_range_reasons(frame))
    if spec.name == "activity_events":
        if "members" in parents:
            found.append(rules.member_reasons(frame, parents["members"]))
        if event_mapping is not None:
            found.append(rules.event_payload_reasons(frame, event_mapping))
    invalid = pl.concat(found)[ROW].unique()
    found.append(rules.duplicate_key_reasons(spec, frame, invalid))

    reasons = (
        pl.concat(found)
        .unique(maintain_order=True)
        .group_by(ROW, maintain_order=True)
        .agg(pl.col("rule").alias(RULES), pl.col("reason").str.join("; ").alias(REASON))
    )
    flagged = frame.join(reasons, on=ROW, how="left")
    bad = pl.col(REASON).is_not_null()
    valid = flagged.filter(~bad).drop(ROW, RULES, REASON)
    quarantine = (
        flagged.filter(bad)
        .join(_originals(conformed.failures), on=ROW, how="left")
        .sort(ROW)
    )
    if valid.height + quarantine.height != frame.height:  # an invariant, not an input error
        raise AssertionError(f"{spec.name}: valid + quarantined != input rows")
    return ValidationResult(spec.name, valid, quarantine, conformed.extra_columns,
                            conformed.sources)
