"""The short report `make demo` ends with: what was built, what failed, where to look next."""

from __future__ import annotations

from pathlib import Path

from dagster import ExecuteInProcessResult

from cs_assets.contract.tables import TABLES


def summarize(result: ExecuteInProcessResult, home: Path, seconds: float) -> str:
    counts: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        row_count = mat.metadata.get("dagster/row_count")
        if row_count is not None:
            counts[mat.asset_key.to_user_string()] = row_count.value
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value})"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    lines = ["", "cs_assets demo " + ("finished" if result.success else "FAILED")
             + f" in {seconds:.0f} s", "", f"{'raw table':<26}{'valid':>12}{'quarantined':>13}"]
    for name in TABLES:
        lines.append(
            f"{name:<26}{counts.get(name, 0):>12,}{counts.get(f'{name}_quarantine', 0):>13,}"
        )
    lines += ["", "Checks not passing: " + (", ".join(failed_checks) or "none")]
    lines += [
        "",
        "Where to look next:",
        "  make ui          Dagster UI at http://localhost:3000 (assets, checks, run history)",
        "  make mlflow-ui   MLflow UI at http://localhost:5000",
        f"  outputs          {home / 'storage'} (Parquet, one file per asset)",
        f"  raw demo data    {home / 'raw'} (ground truth in {home / 'raw' / '_truth'})",
    ]
    return "\n".join(lines)
