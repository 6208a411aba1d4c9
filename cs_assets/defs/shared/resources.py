"""Every location and credential, read from the environment in one place.

`resources_from_env()` builds the resources `Definitions` needs. A bad value fails
here, when the code location loads, with the environment variable named.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

import dagster_polars
import polars as pl
import sqlalchemy as sa
from dagster import ConfigurableResource, EnvVar, InputContext, MetadataValue, OutputContext
from dagster_polars.io_managers.utils import get_metadata_schema
from pydantic import Field

from cs_assets.channels.email import EmailChannel, SmtpSettings, UnsubscribeSettings
from cs_assets.contract.events import EventKind, load_event_mapping
from cs_assets.contract.tables import OPTIONAL_TABLES
from cs_assets.features.household import missing_sources
from cs_assets.features.product_signals import METRICS_CONFIG, MetricsConfig
from cs_assets.ingestion.conform import RawPart
from cs_assets.ingestion.sources import (
    parquet_table_present,
    postgres_table_present,
    read_parquet_table,
    read_postgres_table,
)
from cs_assets.lists import LISTS_CONFIG, ListsConfig
from cs_assets.playbooks.config import PLAYBOOKS_CONFIG, PlaybookCatalog
from cs_assets.playbooks.content import CONTENT_CONFIG, Content
from cs_assets.scoring import SCORECARD_CONFIG, Scorecard
from cs_assets.segments import SEGMENTS_CONFIG, SegmentConfig
from cs_assets.settings import (
    ConfigError,
    cs_home,
    default_state_url,
    parse_reference_time,
    platform_now,
    reference_setting,
)
from cs_assets.team import TEAM_CONFIG, TeamConfig
from cs_assets.validated_config import ConfigFile
from cs_assets.voc import VOC_CONFIG, VocConfig
from cs_assets.vocabulary import AS_OF

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

    def load_partitions(self, context: InputContext):
        """The input's partitions as one frame, in partition order (lazy when the input is
        annotated `pl.LazyFrame`), so asset bodies never see partition plumbing. Under
        `OPTIONAL_INPUT` (`allow_missing_partitions`) days not materialized are left out
        quietly, and none at all is None."""
        optional = (context.definition_metadata or {}).get("allow_missing_partitions", False)
        paths = self._get_paths_for_partitions(context)
        frames = [self.load_from_path(context=context, path=paths[key])
                  for key in sorted(paths) if not optional or paths[key].exists()]
        if len(frames) < len(paths):
            context.log.debug(f"{len(paths) - len(frames)} of {len(paths)} partitions of "
                              f"{context.asset_key.to_user_string()} are not materialized")
        if not frames:
            return None
        # rechunk: polars 2.1 panics ("assertion failed: i < self.len()") formatting strings
        # over frames built from many chunks
        return frames[0] if len(frames) == 1 else pl.concat(
            frames, how="vertical_relaxed", rechunk=True)

    def handle_output(self, context: OutputContext, obj) -> None:
        """A frame spanning several daily partitions (a single-run backfill) is written as
        one file per day, split on its `as_of` column, and each day's materialization
        carries that day's row count.

        Dagster's UPath IO managers refuse outputs spanning several partitions, but a
        backfill of many days in one run (`BackfillPolicy.single_run()`) produces exactly that.
        """
        if not (context.has_asset_partitions and len(context.asset_partition_keys) > 1):
            super().handle_output(context, obj)
            return
        paths = self._get_paths_for_partitions(context)
        day = pl.col(AS_OF).cast(pl.String)
        for key, path in paths.items():
            part = obj.filter(day == key)
            self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=part, path=path)
            # each day's materialization counts its own rows, not the whole run's
            context.step_context.add_asset_metadata(
                {"dagster/row_count": part.height, "dagster/partition_row_count": part.height},
                asset_key=context.asset_key, partition_key=key)
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
        default="", description="CS_REFERENCE_TIME: rows at/after it are 'future'; default: the "
        "platform clock, read at each ingestion"
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

    def absent_tables(self) -> frozenset[str]:
        """The optional contract tables this product's source does not hold at all."""
        if self.kind == "postgres":
            engine = sa.create_engine(self.postgres_url)
            try:
                return frozenset(t for t in OPTIONAL_TABLES
                                 if not postgres_table_present(engine, self.postgres_schema, t))
            finally:
                engine.dispose()
        return frozenset(t for t in OPTIONAL_TABLES
                         if not parquet_table_present(Path(self.parquet_dir), t))

    def missing_sources(self) -> frozenset[str]:
        """The absent tables, and the event kinds and columns the product has none of
        (`features.household.missing_sources`): what its features cannot show."""
        return missing_sources(self.absent_tables(), self.event_mapping())

    def reference_instant(self) -> datetime:
        if self.reference_time:
            return parse_reference_time(self.reference_time)
        return platform_now()  # moves with the clock, no reload

    def event_mapping(self) -> dict[str, EventKind]:
        return load_event_mapping(self.event_mapping_path or None)


class ConfigFileResource(ConfigurableResource):
    """A YAML configuration (`ConfigFile`): the shipped file, or the one its environment
    variable names, checked when the code location loads."""

    config_file: ClassVar[ConfigFile]
    path: str = Field(default="", description="YAML file; the shipped one if empty")

    def load(self):
        return self.config_file.load(self.path or None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **fields):
        """The resource on the file `env` names; a bad file fails here, naming the variable."""
        path = env.get(cls.config_file.env_key, "")
        try:
            cls.config_file.load(path or None)
        except ConfigError as exc:
            raise ConfigError(f"{cls.config_file.env_key}: {exc}") from exc
        return cls(path=path, **fields)


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


class ScorecardResource(ConfigFileResource):
    """CS_SCORECARD: weights, thresholds, windows and tier cut-offs."""

    config_file = SCORECARD_CONFIG

    def load(self) -> Scorecard:
        return super().load()


class StateResource(ConfigurableResource):
    """The platform's own state database (SQLite under $CS_HOME, or PostgreSQL)."""

    url: str = Field(description="CS_STATE_URL (a secret); sqlite:///$CS_HOME/state.db if unset")

    def engine(self):
        from cs_assets.state.store import state_engine

        return state_engine(self.url)


class MetricsResource(ConfigFileResource):
    """CS_METRICS: the product's own signals as features (metrics per event type)."""

    config_file = METRICS_CONFIG

    def load(self) -> MetricsConfig:
        return super().load()


class SegmentsResource(ConfigFileResource):
    """CS_SEGMENTS: micro-segment and journey-stage cut-offs."""

    config_file = SEGMENTS_CONFIG

    def load(self) -> SegmentConfig:
        return super().load()


class ListsResource(ConfigFileResource):
    """CS_LISTS: check-ins, Premium save flow, upsell and cross-sell rules."""

    config_file = LISTS_CONFIG

    def load(self) -> ListsConfig:
        return super().load()


class TeamResource(ConfigFileResource):
    """CS_TEAM: the CS roster and capacities, rewards, leaderboard tiers, review asks;
    and the secret referral codes are derived from."""

    config_file = TEAM_CONFIG
    referral_secret: str = Field(
        default="", description="CS_REFERRAL_SECRET (a secret); a random one kept under "
        "$CS_HOME if empty")

    def load(self) -> TeamConfig:
        return super().load()

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


class PlaybooksResource(ConfigFileResource):
    """CS_PLAYBOOKS: triggers, steps, exits, holdouts and the templates' channels."""

    config_file = PLAYBOOKS_CONFIG

    def load(self) -> PlaybookCatalog:
        return super().load()


class ContentResource(ConfigFileResource):
    """CS_CONTENT: what the messages quote (links, offers, features, add-ons, who signs)."""

    config_file = CONTENT_CONFIG

    def load(self) -> Content:
        return super().load()


MAIL_SECRETS = ("CS_SMTP_PASSWORD", "CS_UNSUBSCRIBE_SECRET")


class MailResource(ConfigurableResource):
    """Email delivery: each field is the `CS_` variable of its name in capitals (CS_SMTP_HOST,
    ..., CS_UNSUBSCRIBE_SECRET). Without `smtp_host` messages land in the outbox table only.
    The password and the unsubscribe secret are passed as `EnvVar`s, so their values never
    enter Dagster's config or the UI."""

    smtp_host: str = ""
    smtp_port: str = ""
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    unsubscribe_secret: str = ""

    def settings(self) -> dict[str, str]:
        """The fields set, under their variables' names (what the channel's settings parse)."""
        return {_variable(name): getattr(self, name) for name in _MAIL_FIELDS
                if getattr(self, name)}

    def channel(self) -> EmailChannel:
        return EmailChannel.from_env(self.settings())

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MailResource:
        """The variables set in `env`; bad values fail here, naming the variable."""
        check_mail_settings(env)
        return cls(**{name: EnvVar(key) if key in MAIL_SECRETS else env[key]
                      for name in _MAIL_FIELDS if env.get(key := _variable(name))})


_MAIL_FIELDS = tuple(MailResource.model_fields)


def _variable(field: str) -> str:
    return f"CS_{field.upper()}"


def check_mail_settings(env: Mapping[str, str]) -> None:
    """Fail at load, naming the variable, rather than at the first send."""
    try:
        smtp = SmtpSettings.from_env(env)
        UnsubscribeSettings.from_env(env, sending=smtp is not None)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


class VocResource(ConfigFileResource):
    """CS_VOC: survey triggers and fatigue, NPS themes, escalations."""

    config_file = VOC_CONFIG

    def load(self) -> VocConfig:
        return super().load()


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
    reference = reference_setting(env)
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
        reference_time=env.get("CS_REFERENCE_TIME", ""),  # the demo's file: read at each call
        max_invalid_share=share,
        event_mapping_path=mapping,
        min_mapped_event_share=mapped_share,
    )


def resources_from_env(env: Mapping[str, str] = os.environ) -> dict[str, object]:
    return {
        "raw_source": raw_source_from_env(env),
        "scorecard": ScorecardResource.from_env(env),
        "metrics": MetricsResource.from_env(env),
        "mlflow": mlflow_from_env(env),
        "segments": SegmentsResource.from_env(env),
        "voc": VocResource.from_env(env),
        # The URL may hold a password: Dagster shows the variable's name, not its value.
        "state": StateResource(url=EnvVar("CS_STATE_URL") if env.get("CS_STATE_URL")
                               else default_state_url(env)),
        "team": TeamResource.from_env(
            env, referral_secret=EnvVar("CS_REFERRAL_SECRET") if env.get("CS_REFERRAL_SECRET")
            else ""),
        "lists": ListsResource.from_env(env),
        "playbooks": PlaybooksResource.from_env(env),
        "content": ContentResource.from_env(env),
        "mail": MailResource.from_env(env),
        "io_manager": PolarsParquetIOManager(base_dir=str(cs_home(env) / "storage")),
    }
