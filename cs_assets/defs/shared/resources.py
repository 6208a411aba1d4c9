"""Every location and credential, read from the environment in one place.

`resources_from_env()` builds the resources `Definitions` needs. A bad value fails
here, when the code location loads, with the environment variable named.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster_polars
import polars as pl
import sqlalchemy as sa
from dagster import ConfigurableResource, EnvVar, InputContext, MetadataValue, OutputContext
from dagster_polars.io_managers.utils import get_metadata_schema
from pydantic import Field

from cs_assets.channels.email import EmailChannel, SmtpSettings, UnsubscribeSettings
from cs_assets.contract.events import EventKind, load_event_mapping
from cs_assets.ingestion.conform import RawPart
from cs_assets.ingestion.sources import read_parquet_table, read_postgres_table
from cs_assets.lists import ListsConfig, ListsConfigError, load_lists_config
from cs_assets.playbooks.definitions import PlaybookCatalog, PlaybookConfigError, load_playbooks
from cs_assets.scoring import Scorecard, ScorecardError, load_scorecard
from cs_assets.segments import SegmentConfig, SegmentConfigError, load_segment_config
from cs_assets.settings import ConfigError, cs_home, default_state_url, parse_reference_time
from cs_assets.team import TeamConfig, TeamConfigError, load_team_config
from cs_assets.voc import VocConfig, VocConfigError, load_voc_config

DEFAULT_MAX_INVALID_SHARE = 0.05
DEFAULT_MIN_MAPPED_EVENT_SHARE = 0.10


class PolarsParquetIOManager(dagster_polars.PolarsParquetIOManager):
    """dagster-polars' Parquet IO manager, reading without the `rechunk` argument polars 2 removed.

    dagster-polars 0.27.12 always passes `rechunk` to `pl.scan_parquet`, which raises on
    polars 2.x; writing is unaffected.
    """

    def scan_df_from_path(
        self, path, context: InputContext, partition_key: str | None = None
    ) -> pl.LazyFrame:
        return pl.scan_parquet(str(path), storage_options=self.storage_options or None)

    def get_metadata(self, context: OutputContext, obj) -> dict[str, MetadataValue]:
        """Schema, row count and size only: dagster-polars would also attach a random row
        sample and `describe()` (string min / max), which puts names and e-mail addresses into
        Dagster's run and event storage."""
        if obj is None:
            return {"missing": MetadataValue.bool(True)}
        metadata: dict[str, MetadataValue] = {
            "dagster/column_schema": get_metadata_schema(obj)
        }
        if isinstance(obj, pl.DataFrame):
            rows = "dagster/partition_row_count" if context.has_partition_key else (
                "dagster/row_count")
            metadata[rows] = MetadataValue.int(obj.height)
            metadata["estimated_size_mb"] = MetadataValue.float(obj.estimated_size(unit="mb"))
        return metadata

    def handle_output(self, context: OutputContext, obj) -> None:
        """Also store a single-run backfill: a dict of frames keyed by partition, one file each.

        Dagster's UPath IO managers refuse outputs spanning several partitions, but a
        backfill of many days in one run (`BackfillPolicy.single_run()`) produces exactly that.
        """
        if not (context.has_asset_partitions and len(context.asset_partition_keys) > 1):
            super().handle_output(context, obj)
            return
        paths = self._get_paths_for_partitions(context)
        missing = sorted(set(paths) - set(obj))
        if missing:
            raise ValueError(f"{context.asset_key.to_user_string()}: no frame for {missing[:3]}")
        for key, path in paths.items():
            self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=obj[key], path=path)
        context.add_output_metadata({"partitions_written": len(paths)})


class RawSourceResource(ConfigurableResource):
    """The raw tables of the data contract and how strictly to admit them."""

    kind: Literal["parquet", "postgres"] = Field(
        default="parquet", description="CS_RAW_SOURCE: 'parquet' (default) or 'postgres'"
    )
    parquet_dir: str = Field(default="", description="CS_RAW_DIR: folder of <table>.parquet")
    postgres_url: str = Field(default="", description="CS_RAW_POSTGRES_URL (a secret)")
    postgres_schema: str = Field(default="raw", description="CS_RAW_POSTGRES_SCHEMA")
    reference_time: str = Field(
        default="", description="CS_REFERENCE_TIME: rows at/after it are 'future'; default now"
    )
    max_invalid_share: float = Field(
        default=DEFAULT_MAX_INVALID_SHARE, ge=0.0, le=1.0,
        description="CS_MAX_INVALID_SHARE: above this share of quarantined rows, stop downstream",
    )
    event_mapping_path: str = Field(default="", description="CS_EVENT_MAPPING: YAML file")
    min_mapped_event_share: float = Field(
        default=DEFAULT_MIN_MAPPED_EVENT_SHARE, ge=0.0, le=1.0,
        description="CS_MIN_MAPPED_EVENT_SHARE: below this share of events with a canonical "
        "kind, stop downstream",
    )

    def read(self, table: str) -> list[RawPart]:
        if self.kind == "postgres":
            engine = sa.create_engine(self.postgres_url)
            try:
                return read_postgres_table(engine, self.postgres_schema, table)
            finally:
                engine.dispose()
        return read_parquet_table(Path(self.parquet_dir), table)

    def reference_instant(self) -> datetime:
        if self.reference_time:
            return parse_reference_time(self.reference_time)
        return datetime.now(UTC)

    def event_mapping(self) -> dict[str, EventKind]:
        return load_event_mapping(self.event_mapping_path or None)


class MlflowResource(ConfigurableResource):
    """Where MLflow tracks runs and registers models (SQLite + files under $CS_HOME by default)."""

    tracking_uri: str = Field(description="MLFLOW_TRACKING_URI")
    artifact_root: str = Field(description="CS_MLFLOW_ARTIFACT_ROOT: new experiments' artifacts")

    def client(self):
        """A client on this store; also points MLflow's fluent API (runs, logging) at it."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.MlflowClient(self.tracking_uri, self.tracking_uri)


def mlflow_from_env(env: Mapping[str, str] = os.environ) -> MlflowResource:
    home = cs_home(env)
    return MlflowResource(
        tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
        artifact_root=env.get("CS_MLFLOW_ARTIFACT_ROOT", (home / "mlartifacts").as_uri()),
    )


class ScorecardResource(ConfigurableResource):
    """The scorecard YAML: weights, thresholds, windows and tier cut-offs."""

    path: str = Field(default="", description="CS_SCORECARD: YAML file; the shipped one if empty")

    def load(self) -> Scorecard:
        return load_scorecard(self.path or None)


class StateResource(ConfigurableResource):
    """The platform's own state database (SQLite under $CS_HOME, or PostgreSQL)."""

    url: str = Field(description="CS_STATE_URL (a secret); sqlite:///$CS_HOME/state.db if unset")

    def engine(self):
        from cs_assets.state.store import state_engine

        return state_engine(self.url)


class SegmentsResource(ConfigurableResource):
    """The segments YAML: micro-segment and journey-stage cut-offs."""

    path: str = Field(default="", description="CS_SEGMENTS: YAML file; the shipped one if empty")

    def load(self) -> SegmentConfig:
        return load_segment_config(self.path or None)


class ListsResource(ConfigurableResource):
    """The CS lists YAML: check-ins, Premium save flow, upsell and cross-sell rules."""

    path: str = Field(default="", description="CS_LISTS: YAML file; the shipped one if empty")

    def load(self) -> ListsConfig:
        return load_lists_config(self.path or None)


class TeamResource(ConfigurableResource):
    """The team YAML: the CS roster and capacities, rewards, leaderboard tiers, review asks;
    and the secret referral codes are derived from."""

    path: str = Field(default="", description="CS_TEAM: YAML file; the shipped one if empty")
    referral_secret: str = Field(
        default="", description="CS_REFERRAL_SECRET (a secret); a random one kept under "
        "$CS_HOME if empty")

    def load(self) -> TeamConfig:
        return load_team_config(self.path or None)

    def secret(self) -> bytes:
        """The referral secret: set, or created once per $CS_HOME (readable by its owner only),
        so codes stay the same across runs and cannot be derived from household ids."""
        if self.referral_secret:
            return self.referral_secret.encode()
        path = cs_home() / "referral_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_bytes(secrets.token_bytes(32))
        return path.read_bytes()


class PlaybooksResource(ConfigurableResource):
    """The playbooks YAML: triggers, steps, exits, holdouts and what the messages quote."""

    path: str = Field(default="", description="CS_PLAYBOOKS: YAML file; the shipped one if empty")

    def load(self) -> PlaybookCatalog:
        return load_playbooks(self.path or None)


class MailResource(ConfigurableResource):
    """Email delivery from the environment: CS_SMTP_HOST, CS_SMTP_PORT, CS_SMTP_FROM,
    CS_SMTP_USER, CS_SMTP_PASSWORD, CS_SMTP_STARTTLS and CS_UNSUBSCRIBE_URL / _MAILTO /
    _SECRET. Without CS_SMTP_HOST messages land in the outbox table only. Read when a run
    starts (secrets never enter Dagster's config), checked when the definitions load."""

    def channel(self, engine: sa.Engine) -> EmailChannel:
        return EmailChannel.from_env(engine, os.environ)


def check_mail_settings(env: Mapping[str, str]) -> None:
    """Fail at load, naming the variable, rather than at the first send."""
    try:
        smtp = SmtpSettings.from_env(env)
        UnsubscribeSettings.from_env(env, sending=smtp is not None)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


class VocResource(ConfigurableResource):
    """The voice-of-the-customer YAML: survey triggers and fatigue, NPS themes, escalations."""

    path: str = Field(default="", description="CS_VOC: YAML file; the shipped one if empty")

    def load(self) -> VocConfig:
        return load_voc_config(self.path or None)


def _checked_path(env: Mapping[str, str], key: str, load, errors: type[Exception]) -> str:
    path = env.get(key, "")
    try:
        load(path or None)  # fail at load, naming the bad key
    except errors as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    return path


def scorecard_from_env(env: Mapping[str, str] = os.environ) -> ScorecardResource:
    return ScorecardResource(path=_checked_path(env, "CS_SCORECARD", load_scorecard,
                                                ScorecardError))


def _share(env: Mapping[str, str], key: str, default: float) -> float:
    """A share between 0 and 1 (NaN refused: every comparison with it is false)."""
    try:
        value = float(env.get(key, default))
    except ValueError as exc:
        raise ConfigError(f"{key}: not a number: {env[key]!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: must be between 0 and 1, got {value}")
    return value


def raw_source_from_env(env: Mapping[str, str] = os.environ) -> RawSourceResource:
    kind = env.get("CS_RAW_SOURCE", "parquet")
    if kind not in ("parquet", "postgres"):
        raise ConfigError(f"CS_RAW_SOURCE: expected 'parquet' or 'postgres', got {kind!r}")
    share = _share(env, "CS_MAX_INVALID_SHARE", DEFAULT_MAX_INVALID_SHARE)
    mapped_share = _share(env, "CS_MIN_MAPPED_EVENT_SHARE", DEFAULT_MIN_MAPPED_EVENT_SHARE)
    reference = env.get("CS_REFERENCE_TIME", "")
    if reference:
        parse_reference_time(reference)
    mapping = env.get("CS_EVENT_MAPPING", "")
    if mapping:
        load_event_mapping(mapping)  # fail at load, naming the bad entry
    if kind == "postgres" and not env.get("CS_RAW_POSTGRES_URL"):
        raise ConfigError("CS_RAW_POSTGRES_URL: required when CS_RAW_SOURCE=postgres")
    return RawSourceResource(
        kind=kind,
        parquet_dir=env.get("CS_RAW_DIR", str(cs_home(env) / "raw")),
        # The URL may hold a password: Dagster shows the variable's name, not its value.
        postgres_url=EnvVar("CS_RAW_POSTGRES_URL") if kind == "postgres" else "",
        postgres_schema=env.get("CS_RAW_POSTGRES_SCHEMA", "raw"),
        reference_time=reference,
        max_invalid_share=share,
        event_mapping_path=mapping,
        min_mapped_event_share=mapped_share,
    )


def resources_from_env(env: Mapping[str, str] = os.environ) -> dict[str, object]:
    check_mail_settings(env)
    return {
        "raw_source": raw_source_from_env(env),
        "scorecard": scorecard_from_env(env),
        "mlflow": mlflow_from_env(env),
        "segments": SegmentsResource(
            path=_checked_path(env, "CS_SEGMENTS", load_segment_config, SegmentConfigError)),
        "voc": VocResource(path=_checked_path(env, "CS_VOC", load_voc_config, VocConfigError)),
        # The URL may hold a password: Dagster shows the variable's name, not its value.
        "state": StateResource(url=EnvVar("CS_STATE_URL") if env.get("CS_STATE_URL")
                               else default_state_url(env)),
        "team": TeamResource(
            path=_checked_path(env, "CS_TEAM", load_team_config, TeamConfigError),
            referral_secret=EnvVar("CS_REFERRAL_SECRET") if env.get("CS_REFERRAL_SECRET")
            else ""),
        "lists": ListsResource(
            path=_checked_path(env, "CS_LISTS", load_lists_config, ListsConfigError)),
        "playbooks": PlaybooksResource(
            path=_checked_path(env, "CS_PLAYBOOKS", load_playbooks, PlaybookConfigError)),
        "mail": MailResource(),
        "io_manager": PolarsParquetIOManager(base_dir=str(cs_home(env) / "storage")),
    }
