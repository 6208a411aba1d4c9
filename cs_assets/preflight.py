"""What a product's raw data will give before anything is materialized: the tables found and
their rows, the event types without a canonical kind, and what will be null or off because
an optional table is absent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from cs_assets.contract.events import EventKind
from cs_assets.contract.tables import TABLES
from cs_assets.display import escaped, markdown_table
from cs_assets.features.household import missing_sources, not_available, unavailable_features
from cs_assets.playbooks.config import PlaybookCatalog
from cs_assets.scoring import Scorecard, not_scored


@dataclass(frozen=True)
class Preflight:
    rows: dict[str, int | None]  # table -> rows, None when absent
    event_types: pl.DataFrame  # event_type, events, kind (null when unmapped)
    features: dict[str, list[str]]  # missing source (`missing_sources`) -> features null
    components: list[str]  # health-score components dropped, with the weight shared
    playbooks: dict[str, str]  # playbook -> its trigger conditions that read a null feature
    assets: dict[str, list[str]]  # asset reading an absent table directly -> the tables

    @property
    def absent(self) -> frozenset[str]:
        return frozenset(t for t, n in self.rows.items() if n is None)

    @property
    def missing_required(self) -> list[str]:
        return [t for t in self.absent if TABLES[t].required]

    def report(self) -> str:
        """The preflight as text for a terminal, markdown tables inside."""
        tables = pl.DataFrame(
            [(t, "required" if TABLES[t].required else "optional",
              "absent" if n is None else f"{n:,}") for t, n in self.rows.items()],
            schema=["table", "need", "rows"], orient="row")
        unmapped = self.event_types.filter(pl.col("kind").is_null())
        lines = ["Tables:", markdown_table(tables)]
        if self.missing_required:
            lines += [f"REQUIRED TABLE(S) ABSENT: {', '.join(sorted(self.missing_required))}: "
                      "ingestion will fail", ""]
        lines += [f"Event types: {self.event_types.height} "
                  f"({unmapped.height} without a canonical kind)",
                  markdown_table(self.event_types.with_columns(
                      pl.col("event_type").map_elements(escaped, return_dtype=pl.String),
                      pl.col("kind").fill_null("(unmapped: kept, counts as no kind)")))]
        lines += ["Features null ('not available'):"]
        lines += [f"- without {t}: {', '.join(c)}" for t, c in self.features.items()] or ["- none"]
        lines += ["", "Health-score components dropped:"]
        lines += [f"- {c}" for c in self.components] or ["- none"]
        lines += ["", "Playbook triggers whose condition reads a null feature (a comparison "
                  "with a null value is never true):"]
        lines += [f"- {p}: {why}" for p, why in self.playbooks.items()] or ["- none"]
        lines += ["", "Assets reading an absent table directly (they run; what they would take "
                  "from it is empty):"]
        lines += [f"- {a}: {', '.join(t)}" for a, t in self.assets.items()] or ["- none"]
        return "\n".join(lines)


def event_type_counts(events: pl.LazyFrame, mapping: Mapping[str, EventKind]) -> pl.DataFrame:
    """Events per product event type with its canonical kind (null when the mapping has none),
    most frequent first."""
    kinds = pl.DataFrame({"event_type": list(mapping), "kind": [k.value for k in
                                                                mapping.values()]},
                         schema={"event_type": pl.String, "kind": pl.String})
    return (events.group_by("event_type").agg(events=pl.len()).collect()
            .join(kinds, on="event_type", how="left")
            .sort("events", "event_type", descending=[True, False]))


def preflight(rows: dict[str, int | None], event_types: pl.DataFrame,
              mapping: Mapping[str, EventKind], scorecard: Scorecard, catalog: PlaybookCatalog,
              readers: Mapping[str, frozenset[str]]) -> Preflight:
    """`rows` per contract table (None: absent); `mapping` the event mapping; `readers` the
    raw tables each asset reads directly."""
    absent = frozenset(t for t, n in rows.items() if n is None)
    sources = missing_sources(absent, mapping)
    unavailable = unavailable_features(sources)
    off: dict[str, str] = {}
    for name, playbook in catalog.playbooks.items():
        null = {f"{trigger.asset}: {', '.join(sorted(reads))}"
                for trigger in playbook.triggers
                if (reads := set(trigger.expr.meta.root_names()) & unavailable)}
        if null:
            off[name] = "; ".join(sorted(null))
    assets = {a: sorted(tables & absent) for a, tables in readers.items()
              if not a.endswith("_quarantine")}
    return Preflight(
        rows=rows, event_types=event_types, features=not_available(sources),
        components=not_scored(scorecard, unavailable), playbooks=off,
        assets={a: t for a, t in sorted(assets.items()) if t},
    )
