"""`cs-assets`: generate demo data, run the demo end to end, land raw tables in PostgreSQL."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from cs_assets.dev.products import PRODUCTS
from cs_assets.dev.simulator.engine import COMPRESSIONS, RAW_COMPRESSION, simulate
from cs_assets.settings import cs_home, keep_home_setting
from cs_assets.state.schema import TASK_STATUSES

DEMO_CLOCK_TIME = dt_time(23, 0)
DEMO_INSTANCE_YAML = """\
# Embedded demo instance (SQLite under this folder). Production: deploy/production/dagster.yaml.
telemetry:
  enabled: false
"""


def _describe(summary) -> str:
    tables = ", ".join(f"{name} {rows:,}" for name, rows in summary.rows.items()
                       if not name.startswith("_"))
    return (f"{summary.events:,} events in {summary.seconds:.1f} s "
            f"({summary.events_per_second:,.0f} events/s); {tables}")


def _simulate(args: argparse.Namespace) -> None:
    if args.product:
        _simulate_product(args)
        return
    summary = simulate(
        Path(args.out), households=args.households, end_date=args.end_date, seed=args.seed,
        scale=args.scale, ph_only=args.ph_only, compression=args.compression,
    )
    print(_describe(summary))


def _simulate_product(args: argparse.Namespace) -> None:
    """Another product's data, ground truth and the environment that points at its configs."""
    from cs_assets.dev.products import config_env, simulate_product

    if args.ph_only or args.scale != "demo":
        sys.exit("--ph-only and --scale simulate PetForce only: not with --product")
    started = time.perf_counter()
    rows = simulate_product(args.product, Path(args.out), households=args.households,
                            end_date=args.end_date, seed=args.seed)
    tables = ", ".join(f"{name} {n:,}" for name, n in rows.items() if not name.startswith("_"))
    print(f"{args.product}: {tables} in {time.perf_counter() - started:.1f} s")
    print("Point the platform at its configuration:")
    for key, path in config_env(args.product).items():
        print(f"  export {key}={path}")
    print(f"  export CS_RAW_DIR={Path(args.out).resolve()}")


def _load_postgres(args: argparse.Namespace) -> None:
    import sqlalchemy as sa

    from cs_assets.contract.tables import TABLES
    from cs_assets.ingestion.conform import ROW, conform
    from cs_assets.ingestion.postgres_load import apply_contract_ddl, copy_table
    from cs_assets.ingestion.sources import read_parquet_table

    url = os.environ.get("CS_RAW_POSTGRES_URL")
    if not url:
        sys.exit("CS_RAW_POSTGRES_URL: required (the database to load into)")
    engine = sa.create_engine(url)
    apply_contract_ddl(engine)
    for name in TABLES:
        frame = conform(TABLES[name], read_parquet_table(Path(args.raw_dir), name)).frame.drop(ROW)
        copy_table(engine, "raw", name, frame)
        print(f"raw.{name}: {frame.height:,} rows")
    engine.dispose()


def _prepare_demo_home(home: Path, raw_dir: Path, first_partition: date, end_date: date) -> None:
    """Point the environment at the embedded default before the definitions are imported."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME", home / "dagster_home"))
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(DEMO_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["CS_HOME"] = str(home)
    os.environ["CS_RAW_DIR"] = str(raw_dir)
    # The platform clock: the demo's last day, late evening (its data ends at midnight before
    # it; the day's playbook steps, due at the send hour, are due); the daily partitions are
    # the days the demo scores. Both stay under $CS_HOME for `make ui` and later commands.
    clock = datetime.combine(end_date, DEMO_CLOCK_TIME, tzinfo=UTC).isoformat()
    keep_home_setting("CS_REFERENCE_TIME", clock)
    keep_home_setting("CS_PARTITIONS_START", first_partition.isoformat())


def _demo(args: argparse.Namespace) -> None:
    # the demo prints its own progress; MLflow's notices (creating its tables) are noise there
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    home = cs_home()
    raw_dir = home / "raw"
    started = time.perf_counter()
    manifest = raw_dir / "_manifest.json"
    wanted = {"households": args.households, "end_date": args.end_date.isoformat(),
              "seed": args.seed, "product": args.product}
    if args.product:
        _require_product_env(args.product)
    if manifest.exists() and all(
        json.loads(manifest.read_text()).get(k) == v for k, v in wanted.items()
    ):
        print(f"Demo data already in {raw_dir} (same product, households, end date and seed).")
    else:
        print(f"Generating demo data: {args.households:,} households up to {args.end_date} ...")
        if args.product:
            from cs_assets.dev.products import simulate_product

            simulate_product(args.product, raw_dir, households=args.households,
                             end_date=args.end_date, seed=args.seed)
        else:
            print(_describe(simulate(raw_dir, households=args.households,
                                     end_date=args.end_date, seed=args.seed, scale="demo")))
    from cs_assets.reports.ebr import add_quarters, quarter_of

    first_day = args.end_date - timedelta(days=args.days - 1)
    # the partitions reach back to the quarter the EBR decks are for, however few days it scores
    _prepare_demo_home(home, raw_dir, min(first_day, add_quarters(quarter_of(args.end_date), -1)),
                       args.end_date)

    from cs_assets.defs.reports.assets import quarterly_partitions, weekly_partitions
    from cs_assets.dev.demo_runs import launcher
    from cs_assets.dev.demo_summary import summarize

    last = args.end_date.isoformat()
    # the as-of day end_date is complete at its end: the week and quarter ending with it count
    as_of = datetime.combine(args.end_date + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    week = weekly_partitions.get_partition_keys(current_time=as_of)[-1]  # the last full week
    quarter = quarterly_partitions.get_partition_keys(current_time=as_of)[-1]
    day = {"dagster/partition": last}
    # The daily workflow's jobs as the schedule and the sensors run them, the first one over
    # the whole history in a single run; the weekly training before the day's churn step.
    steps = [
        (f"raw tables, then features, scores, alerts and tiers for {first_day} .. "
         f"{args.end_date} in one run", "health_updates_job",
         {"dagster/asset_partition_range_start": first_day.isoformat(),
          "dagster/asset_partition_range_end": last}),
        ("weekly snapshots, churn training set, candidate models in MLflow, survival model",
         "churn_training_job", {}),
        (f"churn predictions from the new champion for {last}", "churn_risk_job", day),
        (f"segments, journey stages, lists and the serving table for {last}", "cs_lists_job",
         day),
        (f"playbook enrolments and their measured effect for {last}", "playbook_enrolment_job",
         day),
        (f"the dispatcher's last pass of {last} at {DEMO_CLOCK_TIME:%H:%M} UTC (outbox only: "
         "no SMTP server configured)", "playbook_dispatch_job", day),
        (f"the weekly CS report for the week of {week}", "weekly_report_job",
         {"dagster/partition": week}),
        (f"EBR decks of the households on a plan with executive reviews for the quarter of "
         f"{quarter}", "ebr_job",
         {"dagster/partition": quarter}),
        ("the war-story analyses", "war_stories_job", {}),
    ]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}  # the log is in the UI
    results = []
    with launcher(Path(os.environ["DAGSTER_HOME"])) as runs:
        for label, job, tags in steps:
            if job == "playbook_dispatch_job":
                _quarter_hour_passes(home, args.end_date)
            print(f"Materializing {label} ...", flush=True)
            results.append(runs.run(job, tags=tags, run_config=quiet))
            if not results[-1].success:
                break
    ok = all(r.success for r in results)
    rates = _early_warning(home, raw_dir) if ok else None
    print(summarize(results, home, time.perf_counter() - started, rates))
    if not ok:
        sys.exit(1)


def _quarter_hour_passes(home: Path, day: date) -> None:
    """The dispatcher as the schedule runs it, every 15 minutes of the demo's last day on the
    platform clock up to the demo's hour (whose pass is the Dagster run that follows), so
    each household's messages wait for the morning where it lives."""
    import polars as pl

    from cs_assets.channels.email import EmailChannel
    from cs_assets.playbooks import load_playbooks
    from cs_assets.playbooks.passes import dispatch_pass

    end = datetime.combine(day, DEMO_CLOCK_TIME, tzinfo=UTC)
    clock = [datetime.combine(day, dt_time(0), tzinfo=UTC)]
    engine = _state()
    households = pl.read_parquet(home / "storage" / "households.parquet")
    email = EmailChannel.from_env(os.environ, now=lambda: clock[0])
    catalog = load_playbooks()
    print(f"Dispatching every 15 minutes of {day} on the platform clock until "
          f"{DEMO_CLOCK_TIME:%H:%M} UTC ...", flush=True)
    passes, outcomes = 0, Counter()
    while clock[0] < end:
        outcomes += dispatch_pass(engine, email, households, catalog, "demo", day,
                                  lambda: clock[0]).outcomes
        clock[0] += timedelta(minutes=15)
        passes += 1
    engine.dispose()
    print(f"  {passes} passes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))


def _require_product_env(product: str) -> None:
    """The product is read when the code loads: its configuration must be in the environment
    before the command starts (`make demo PRODUCT=<name>` sets it)."""
    from cs_assets.dev.products import config_env

    wrong = {k: v for k, v in config_env(product).items() if os.environ.get(k) != v}
    if wrong:
        sys.exit(f"--product {product}: set first\n" + "\n".join(
            f"  export {k}={v}" for k, v in wrong.items()))


def _early_warning(home: Path, raw_dir: Path):
    """New vs old score at a 10% daily alert budget, on the days the demo just scored."""
    import polars as pl

    from cs_assets.churn.early_warning import early_warning_rates
    from cs_assets.dev.evaluation.raw_folder import churn_frame

    scores = pl.read_parquet(home / "storage" / "health_scores" / "*.parquet",
                             columns=["household_id", "as_of", "health_score", "health_score_old"])
    households = pl.read_parquet(raw_dir / "households.parquet")
    return early_warning_rates(scores, churn_frame(raw_dir, households))


def _check_data(args: argparse.Namespace) -> None:
    """The preflight of a raw folder or schema: exits 1 when a required table is absent."""
    import polars as pl

    from cs_assets.contract.tables import TABLES
    from cs_assets.defs.shared.resources import (
        PlaybooksResource,
        RawSourceResource,
        ScorecardResource,
    )
    from cs_assets.ingestion.conform import TableAbsent
    from cs_assets.preflight import event_type_counts, preflight
    from cs_assets.settings import cs_home

    env = os.environ
    if args.postgres_url:
        source = RawSourceResource(kind="postgres", postgres_url=args.postgres_url,
                                   postgres_schema=args.schema,
                                   event_mapping_path=env.get("CS_EVENT_MAPPING", ""))
    else:
        source = RawSourceResource(parquet_dir=args.raw_dir or str(cs_home(env) / "raw"),
                                   event_mapping_path=env.get("CS_EVENT_MAPPING", ""))
    rows: dict[str, int | None] = {}
    events = pl.DataFrame(schema={"event_type": pl.String})
    for table in TABLES:
        try:
            parts = source.read(table)
        except TableAbsent:
            rows[table] = None
            continue
        rows[table] = sum(part.frame.height for part in parts)
        if table == "activity_events":
            events = pl.concat([part.frame.select(pl.col("event_type").cast(pl.String))
                                for part in parts])
    mapping = source.event_mapping()
    report = preflight(rows, event_type_counts(events.lazy(), mapping), mapping,
                       ScorecardResource.from_env(env).load(),
                       PlaybooksResource.from_env(env).load(), _direct_raw_inputs())
    print(report.report())
    if report.missing_required:
        sys.exit(1)


def _direct_raw_inputs() -> dict[str, frozenset[str]]:
    """Per asset, the contract tables it reads directly (from the asset graph)."""
    from cs_assets.contract.tables import TABLES
    from cs_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): frozenset(p.to_user_string() for p in graph.get(key).parent_keys)
            & set(TABLES)
            for key in graph.get_all_asset_keys()
            if key.to_user_string() not in TABLES}


def _unsubscribe(args: argparse.Namespace) -> None:
    """Record an unsubscribe from a link's token (verified with CS_UNSUBSCRIBE_SECRET) or, for
    a request that came another way (support, a reply), from the household id."""
    from cs_assets.channels.email import household_from_token, record_unsubscribe
    from cs_assets.vocabulary import utc_now

    household = args.household
    if args.token:
        secret = os.environ.get("CS_UNSUBSCRIBE_SECRET", "")
        if not secret:
            sys.exit("CS_UNSUBSCRIBE_SECRET: required to verify a token")
        household = household_from_token(args.token, secret.encode())
        if household is None:
            sys.exit("token not valid for CS_UNSUBSCRIBE_SECRET: nothing recorded")
    engine = _state()
    record_unsubscribe(engine, household, utc_now())
    engine.dispose()
    print(f"household {household}: opted out of marketing email")


def _contacts(args: argparse.Namespace) -> None:
    """Every decision about a message to one household, with its reason (the contact log)."""
    import polars as pl

    from cs_assets.display import markdown_table
    from cs_assets.state.contacts import contact_history

    engine = _state()
    history = contact_history(engine, args.household)
    engine.dispose()
    if history.is_empty():
        print(f"household {args.household}: no message decided yet")
        return
    print(markdown_table(history.with_columns(pl.col("at").dt.strftime("%Y-%m-%d %H:%M"))))


def _steps_list(args: argparse.Namespace) -> None:
    """The steps a person must resolve: handed to the mail server by a sender that died."""
    from cs_assets.display import markdown_table
    from cs_assets.state.delivery import in_doubt_steps

    engine = _state()
    doubtful = in_doubt_steps(engine)
    engine.dispose()
    if not doubtful:
        print("no step in doubt")
        return
    import polars as pl

    print(markdown_table(pl.DataFrame(
        [(s.step_id, s.playbook, s.household_id, s.template, s.message_id,
          s.due_at.strftime("%Y-%m-%d %H:%M")) for s in doubtful], orient="row",
        schema=["step_id", "playbook", "household_id", "template", "message_id", "due_at"])))
    print("\nLook each Message-ID up in the mail provider's log, then: cs-assets steps resolve "
          "STEP --sent (it went out) | --resend (it did not) | --skip (leave it unsent)")


def _steps_resolve(args: argparse.Namespace) -> None:
    from cs_assets.state.delivery import resolve_in_doubt
    from cs_assets.vocabulary import utc_now

    engine = _state()
    try:
        status = resolve_in_doubt(engine, args.step, args.resolution, utc_now())
    except ValueError as exc:
        sys.exit(str(exc))
    finally:
        engine.dispose()
    print(f"step {args.step}: {status}")


LISTED = ["task_id", "household_id", "csm_id", "reason", "status", "priority", "due_on",
          "refires", "snoozed_until", "title"]


def _tasks_list(args: argparse.Namespace) -> None:
    """CSM tasks by due day: one CSM's, of one status, or the open ones past their due day."""
    from cs_assets.display import markdown_table
    from cs_assets.state.tasks import list_tasks
    from cs_assets.vocabulary import utc_now

    engine = _state()
    tasks = list_tasks(engine, csm_id=args.csm, status=args.status,
                       overdue_on=utc_now().date() if args.overdue else None)
    engine.dispose()
    print(markdown_table(tasks.select(LISTED)) if tasks.height else "no tasks")


def _tasks_change(args: argparse.Namespace) -> None:
    """Complete, snooze or dismiss a task; an unknown id or a closed task exits with why."""
    from cs_assets.state.tasks import TaskError, complete_task, dismiss_task, snooze_task
    from cs_assets.vocabulary import utc_now

    engine = _state()
    try:
        if args.change == "done":
            complete_task(engine, args.task, args.outcome, args.note, utc_now())
            print(f"task {args.task}: done")
        elif args.change == "snooze":
            snooze_task(engine, args.task, args.until, args.note, utc_now())
            print(f"task {args.task}: snoozed until {args.until}")
        else:
            dismiss_task(engine, args.task, args.note, utc_now())
            print(f"task {args.task}: dismissed")
    except TaskError as exc:
        sys.exit(str(exc))
    finally:
        engine.dispose()


def _state():
    """The state database the platform uses: CS_STATE_URL, else the embedded default."""
    from cs_assets.settings import default_state_url
    from cs_assets.state.store import state_engine

    return state_engine(os.environ.get("CS_STATE_URL") or default_state_url())


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cs-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("simulate", help="write demo raw tables and ground truth")
    sim.add_argument("--households", type=int, required=True)
    sim.add_argument("--end-date", type=_iso_date, required=True,
                     help="reference day: every generated time is before its midnight UTC")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--out", required=True, help="folder for <table>.parquet and _truth/")
    sim.add_argument("--scale", choices=["demo", "bench"], default="demo")
    sim.add_argument("--ph-only", action="store_true",
                     help="simulate only the proportional-hazards survival model")
    sim.add_argument("--compression", choices=COMPRESSIONS, default=RAW_COMPRESSION,
                     help="Parquet codec of the files (default %(default)s)")
    sim.add_argument("--product", choices=PRODUCTS,
                     help="another product than PetForce, with its own configuration files")
    sim.set_defaults(run=_simulate)

    demo = commands.add_parser("demo", help="generate demo data and materialize everything")
    demo.add_argument("--households", type=int, default=3000)
    demo.add_argument("--end-date", type=_iso_date, default=date(2026, 11, 1))
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--days", type=int, default=180,
                      help="daily partitions to score, ending on the end date")
    demo.add_argument("--product", choices=PRODUCTS,
                      help="another product than PetForce (its configuration in the environment)")
    demo.set_defaults(run=_demo)

    load = commands.add_parser(
        "load-postgres",
        help="apply the sql/ DDL and COPY a raw Parquet folder into CS_RAW_POSTGRES_URL",
    )
    load.add_argument("--raw-dir", required=True)
    load.set_defaults(run=_load_postgres)

    check = commands.add_parser(
        "check-data", help="preflight: the tables found, unmapped event types, and what will "
        "be null or off, before anything is materialized")
    check.add_argument("--raw-dir", help="folder of <table>.parquet or <table>/ Parquet parts "
                       "(default $CS_HOME/raw)")
    check.add_argument("--postgres-url", help="read the schema of this database instead")
    check.add_argument("--schema", default="raw", help="PostgreSQL schema (default raw)")
    check.set_defaults(run=_check_data)

    unsub = commands.add_parser(
        "unsubscribe", help="opt a household out of marketing email (link token or id)")
    who = unsub.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="the token of an unsubscribe link")
    who.add_argument("--household", help="a household id (a request by another route)")
    unsub.set_defaults(run=_unsubscribe)

    contacts = commands.add_parser(
        "contacts", help="why each message to a household was sent, deferred, suppressed or "
        "held out (the contact log)")
    contacts.add_argument("--household", required=True, help="a household id")
    contacts.set_defaults(run=_contacts)

    steps = commands.add_parser(
        "steps", help="playbook steps in doubt (a sender died while handing them to the mail "
        "server) and what a person found")
    step_commands = steps.add_subparsers(dest="steps_command", required=True)
    listing = step_commands.add_parser("list", help="the steps in doubt")
    listing.add_argument("--in-doubt", action="store_true", required=True,
                         help="steps that may or may not have gone out")
    listing.set_defaults(run=_steps_list)
    resolve = step_commands.add_parser("resolve", help="record what the mail provider's log says")
    resolve.add_argument("step", type=int, help="the step id (steps list --in-doubt)")
    found = resolve.add_mutually_exclusive_group(required=True)
    found.add_argument("--sent", dest="resolution", action="store_const", const="sent",
                       help="it went out: record it sent")
    found.add_argument("--resend", dest="resolution", action="store_const", const="resend",
                       help="it did not go out: queue it again now")
    found.add_argument("--skip", dest="resolution", action="store_const", const="skip",
                       help="leave it unsent")
    resolve.set_defaults(run=_steps_resolve)

    tasks = commands.add_parser(
        "tasks", help="CSM tasks: list them, mark one done, snooze or dismiss it")
    task_commands = tasks.add_subparsers(dest="change", required=True)
    listing = task_commands.add_parser("list", help="tasks by due day")
    listing.add_argument("--csm", help="one person's (a roster id)")
    listing.add_argument("--status", choices=TASK_STATUSES)
    listing.add_argument("--overdue", action="store_true",
                         help="open tasks due before today (the platform clock)")
    listing.set_defaults(run=_tasks_list)
    done = task_commands.add_parser("done", help="the task is done: say what came of it")
    snooze = task_commands.add_parser("snooze", help="open again on a later day")
    dismiss = task_commands.add_parser("dismiss", help="close it without doing it")
    for change in (done, snooze, dismiss):
        change.add_argument("task", type=int, help="a task id (tasks list)")
        change.add_argument("--note", help="a note kept on the task")
        change.set_defaults(run=_tasks_change)
    done.add_argument("--outcome", required=True, help='e.g. "called: renewing"')
    snooze.add_argument("--until", type=_iso_date, required=True, help="YYYY-MM-DD")

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
