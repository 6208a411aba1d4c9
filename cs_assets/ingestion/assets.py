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
    Backoff,
    Failure,
    MetadataValue,
    Output,
    RetryPolicy,
    multi_asset,
)

from cs_assets.contract.tables import TABLES, TableSpec
from cs_assets.ingestion.conform import ROW, ContractSchemaError
from cs_assets.ingestion.rules import event_kind_expr
from cs_assets.ingestion.validate import REASON, ValidationResult, lookup_tables, validate_table
from cs_assets.metadata import markdown_table
from cs_assets.resources import RawSourceResource

PREVIEW_ROWS = 10
BLOCKING_CHECK = "quarantine_share_within_threshold"


def _rule_table(result: ValidationResult) -> str:
    counts = result.rule_counts()
    if not counts:
        return "No row was quarantined."
    return markdown_table(pl.DataFrame({"rule": list(counts), "rows": list(counts.values())}))


def _checks(spec: TableSpec, result: ValidationResult, threshold: float, unmapped: dict):
    share = result.invalid_share
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
    yield AssetCheckResult(
        asset_key=AssetKey(spec.name),
        check_name="not_empty",
        passed=result.input_rows > 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"input_rows": result.input_rows},
    )
    if spec.name == "activity_events":
        yield AssetCheckResult(
            asset_key=AssetKey(spec.name),
            check_name="event_types_mapped",
            passed=not unmapped,
            severity=AssetCheckSeverity.WARN,
            metadata={"unmapped_event_types": MetadataValue.json(unmapped)},
        )


def _check_specs(spec: TableSpec) -> list[AssetCheckSpec]:
    key = AssetKey(spec.name)
    specs = [
        AssetCheckSpec(
            BLOCKING_CHECK, asset=key, blocking=True,
            description="Share of quarantined rows is at most CS_MAX_INVALID_SHARE; "
            "above it, downstream assets do not run.",
        ),
        AssetCheckSpec("not_empty", asset=key, description="Warns when the table has no rows."),
    ]
    if spec.name == "activity_events":
        specs.append(AssetCheckSpec(
            "event_types_mapped", asset=key,
            description="Warns when product event types have no canonical kind in the mapping.",
        ))
    return specs


def build_ingestion_asset(spec: TableSpec):
    parents = lookup_tables(spec.name)

    @multi_asset(
        name=f"ingest_{spec.name}",
        group_name="raw",
        outs={
            "valid": AssetOut(
                key=AssetKey(spec.name),
                description=f"Validated `{spec.name}` rows. {spec.model.__doc__ or ''}",
                kinds={"polars", "parquet"},
                owners=["team:data-platform"],
            ),
            "quarantine": AssetOut(
                key=AssetKey(f"{spec.name}_quarantine"),
                description=f"`{spec.name}` rows that failed validation, with the reasons.",
                kinds={"polars", "parquet"},
                owners=["team:data-platform"],
            ),
        },
        ins={p: AssetIn(key=AssetKey(p)) for p in parents},
        check_specs=_check_specs(spec),
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
    )
    def _ingest(context: AssetExecutionContext, raw_source: RawSourceResource, **parent_frames):
        mapping = raw_source.event_mapping() if spec.name == "activity_events" else None
        try:
            raw = raw_source.read(spec.name)
            result = validate_table(
                spec,
                raw,
                reference_time=raw_source.reference_instant(),
                parents=parent_frames,
                event_mapping=mapping,
            )
        except ContractSchemaError as exc:  # retrying cannot fix the shape of the data
            raise Failure(description=str(exc), allow_retries=False) from exc
        valid = result.valid
        unmapped: dict[str, int] = {}
        if mapping is not None:
            valid = valid.with_columns(event_kind=event_kind_expr(mapping))
            unmapped = dict(
                valid.filter(pl.col("event_kind").is_null())
                .group_by("event_type").len().sort("len", descending=True).head(20).iter_rows()
            )
        if result.input_rows == 0:
            context.log.warning(f"{spec.name}: the source table is empty")
        preview_cols = [ROW, spec.key, REASON]
        yield Output(
            valid,
            output_name="valid",
            metadata={
                "dagster/row_count": valid.height,
                "input_rows": result.input_rows,
                "quarantined_rows": result.quarantine.height,
                "ignored_extra_columns": MetadataValue.json(result.extra_columns),
            },
        )
        yield Output(
            result.quarantine,
            output_name="quarantine",
            metadata={
                "dagster/row_count": result.quarantine.height,
                "rules": MetadataValue.md(_rule_table(result)),
                # key and reason only: quarantined rows may hold names and emails
                "preview": MetadataValue.md(
                    markdown_table(result.quarantine.select(preview_cols).head(PREVIEW_ROWS))
                ),
            },
        )
        yield from _checks(spec, result, raw_source.max_invalid_share, unmapped)

    return _ingest


ingestion_assets = [build_ingestion_asset(spec) for spec in TABLES.values()]
