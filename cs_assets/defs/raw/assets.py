"""One ingestion asset per raw table: valid rows go downstream, invalid rows to quarantine."""

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    BackfillPolicy,
    Backoff,
    Failure,
    MetadataValue,
    Output,
    RetryPolicy,
    multi_asset,
)

from cs_assets.contract.events import EventMappingError
from cs_assets.contract.tables import TABLES, TableSpec
from cs_assets.defs.shared.partitions import FRAME_KINDS
from cs_assets.defs.shared.resources import RawSourceResource
from cs_assets.display import SHOWN_CHARACTERS, escaped, markdown_table, truncated
from cs_assets.ingestion.conform import ROW, ContractSchemaError, RawPart, TableAbsent
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.ingestion.validate import REASON, ValidationResult, lookup_tables, validate_table

PREVIEW_ROWS = 10
BLOCKING_CHECK = "quarantine_share_within_threshold"


def _rule_table(result: ValidationResult) -> str:
    counts = result.rule_counts()
    if not counts:
        return "No row was quarantined."
    return markdown_table(pl.DataFrame({"rule": list(counts), "rows": list(counts.values())}))


LAST_ROWS = "last_nonempty_input_rows"


def _not_empty(spec: TableSpec, result: ValidationResult, previous_rows: int | None,
               absent: bool):
    """An empty table is valid where it always was (a warning), and an optional table the
    product never had passes; emptied or gone where the last ingestion had rows, it is a lost
    export, and downstream must not read it as "no activity" (every household at risk, mail
    to everyone)."""
    emptied = result.input_rows == 0 and bool(previous_rows)
    description = None
    if emptied:
        description = (f"{spec.name} has 0 rows where the last ingestion had "
                       f"{previous_rows:,}: the source was emptied or not found")
    elif absent:
        description = (f"{spec.name} is absent: an optional table this product does not "
                       "provide; the features that need it are null ('not available')")
    return AssetCheckResult(
        asset_key=AssetKey(spec.name),
        check_name="not_empty",
        passed=result.input_rows > 0 or (absent and not emptied),
        severity=AssetCheckSeverity.ERROR if emptied else AssetCheckSeverity.WARN,
        description=description,
        metadata={"input_rows": result.input_rows, "last_ingestion_rows": previous_rows or 0,
                  "present": not absent},
    )


def _event_types_mapped(valid: pl.DataFrame, min_share: float):
    """Unmapped event types are kept (a warning); a mapping that gives a canonical kind to
    almost no event makes every household look inactive, so below `min_share` it blocks."""
    mapped = valid.height - valid["event_kind"].null_count()
    share = mapped / valid.height if valid.height else 1.0
    unmapped = dict(
        valid.filter(pl.col("event_kind").is_null())
        .group_by("event_type").len().sort("len", "event_type", descending=[True, False])
        .head(20).iter_rows()
    )
    blocking = share < min_share
    description = None
    if blocking:
        description = (f"{mapped:,} of {valid.height:,} events ({share:.1%}) have a canonical "
                       f"kind; at least {min_share:.0%} must (CS_MIN_MAPPED_EVENT_SHARE)")
    return AssetCheckResult(
        asset_key=AssetKey("activity_events"),
        check_name="event_types_mapped",
        passed=not unmapped,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "mapped_events": mapped,
            "mapped_share": float(share),
            "min_mapped_share": min_share,
            "unmapped_event_types": MetadataValue.json(
                {escaped(k): v for k, v in unmapped.items()}),
        },
    )


def _checks(spec: TableSpec, result: ValidationResult, valid: pl.DataFrame,
            raw_source: RawSourceResource, previous_rows: int | None, absent: bool):
    share = result.invalid_share
    threshold = raw_source.max_invalid_share
    yield AssetCheckResult(
        asset_key=AssetKey(spec.name),
        check_name=BLOCKING_CHECK,
        passed=share <= threshold,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "input_rows": result.input_rows,
            "quarantined_rows": result.quarantine.height,
            "invalid_share": float(share),
            "threshold": threshold,
            "rules": MetadataValue.md(_rule_table(result)),
        },
    )
    yield _not_empty(spec, result, previous_rows, absent)
    if spec.name == "activity_events":
        yield _event_types_mapped(valid, raw_source.min_mapped_event_share)


def _check_specs(spec: TableSpec) -> list[AssetCheckSpec]:
    key = AssetKey(spec.name)
    specs = [
        AssetCheckSpec(
            BLOCKING_CHECK, asset=key, blocking=True,
            description="Share of quarantined rows is at most CS_MAX_INVALID_SHARE; "
            "above it, downstream assets do not run.",
        ),
        AssetCheckSpec(
            "not_empty", asset=key, blocking=True,
            description="Warns when the table has no rows; when the last ingestion had rows, "
            "fails and downstream assets do not run.",
        ),
    ]
    if spec.name == "activity_events":
        specs.append(AssetCheckSpec(
            "event_types_mapped", asset=key, blocking=True,
            description="Warns when product event types have no canonical kind in the "
            "mapping; when fewer than CS_MIN_MAPPED_EVENT_SHARE of the events have one, "
            "fails and downstream assets do not run.",
        ))
    return specs


def _last_ingested_rows(context: AssetExecutionContext, table: str) -> int | None:
    """Input rows of the table's last ingestion that had rows: an emptied table stays blocked
    on every later ingestion until it has rows again (or its materializations are wiped)."""
    event = context.instance.get_latest_materialization_event(AssetKey(table))
    if event is None or event.asset_materialization is None:
        return None
    metadata = event.asset_materialization.metadata
    rows = metadata.get(LAST_ROWS, metadata.get("input_rows"))
    return None if rows is None else int(rows.value)


def build_ingestion_asset(spec: TableSpec):
    parents = lookup_tables(spec.name)

    @multi_asset(
        name=f"ingest_{spec.name}",
        # unpartitioned; declared so the daily jobs have one backfill policy (one run)
        backfill_policy=BackfillPolicy.single_run(),
        outs={
            "valid": AssetOut(
                key=AssetKey(spec.name),
                description=f"Validated `{spec.name}` rows. {spec.model.__doc__ or ''}",
                kinds=FRAME_KINDS,
            ),
            "quarantine": AssetOut(
                key=AssetKey(f"{spec.name}_quarantine"),
                description=f"`{spec.name}` rows that failed validation, with the reasons.",
                kinds=FRAME_KINDS,
            ),
        },
        ins={p: AssetIn(key=AssetKey(p)) for p in parents},
        check_specs=_check_specs(spec),
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
    )
    def _ingest(context: AssetExecutionContext, raw_source: RawSourceResource, **parent_frames):
        previous_rows = _last_ingested_rows(context, spec.name)
        try:  # retrying cannot fix the shape of the data or a bad mapping
            mapping = raw_source.event_mapping() if spec.name == "activity_events" else None
            absent = False
            try:
                raw = raw_source.read(spec.name)
            except TableAbsent as exc:
                if spec.required:
                    raise Failure(description=f"{exc} (a required table)",
                                  allow_retries=False) from exc
                absent = True
                raw = [RawPart("absent", pl.DataFrame(schema=spec.columns))]
            # a lookup the product does not have (events' users without a members table)
            # checks nothing; a missing parent table still quarantines its orphans
            gone = raw_source.absent_tables()
            lookups = {name: frame for name, frame in parent_frames.items()
                       if name == spec.parent or name not in gone}
            result = validate_table(
                spec,
                raw,
                reference_time=raw_source.reference_instant(),
                parents=lookups,
                event_mapping=mapping,
            )
        except (ContractSchemaError, EventMappingError) as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        valid = result.valid
        if mapping is not None:
            valid = valid.with_columns(event_kind=event_kind_expr(mapping))
        if result.input_rows == 0 and not absent:
            context.log.warning(f"{spec.name}: the source table is empty")
        yield Output(
            valid,
            output_name="valid",
            metadata={
                "dagster/row_count": valid.height,
                "input_rows": result.input_rows,
                "present": not absent,
                LAST_ROWS: result.input_rows or previous_rows or 0,
                "quarantined_rows": result.quarantine.height,
                "source_files": result.sources,
                "ignored_extra_columns": MetadataValue.json(
                    [truncated(c, SHOWN_CHARACTERS) for c in result.extra_columns]),
            },
        )
        yield Output(
            result.quarantine,
            output_name="quarantine",
            metadata={
                "dagster/row_count": result.quarantine.height,
                "rules": MetadataValue.md(_rule_table(result)),
                # key and reason only: quarantined rows may hold names and emails, and
                # reasons mask them
                "preview": MetadataValue.md(markdown_table(
                    result.quarantine.select(ROW, spec.key, REASON).head(PREVIEW_ROWS))),
            },
        )
        yield from _checks(spec, result, valid, raw_source, previous_rows, absent)

    return _ingest


ingestion_assets = [build_ingestion_asset(spec) for spec in TABLES.values()]
