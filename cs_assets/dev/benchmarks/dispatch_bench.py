"""Benchmark: the dispatcher on a steady-state day of a 30,000-household base, on SQLite and
PostgreSQL, against the dispatcher before batch transactions on the first 5,000 of the same
steps.

    python -m cs_assets.dev.benchmarks.dispatch_bench [--households N] [--steps N]
        [--baseline-steps N] [--history-days N] [--stores sqlite,postgres]

1. The messages are real: every (playbook, template, channel, render context) a demo run
   enrolled is read from the demo's state database ($CS_HOME/state.db; `make demo` makes it)
   and drawn, weighted by how often the demo scheduled it, for random households of the
   base. Time zones come from the demo's raw households.
2. The store holds the day's `--steps` due steps (at 10:00 in each household's time zone,
   priority by playbook kind) and `--history-days` earlier days of sent marketing messages,
   `HISTORY_RATE` per household a day (within the shipped caps, as a base the policy has
   run on), so the caps read a grown state. Each household has a CSM.
3. The dispatcher passes every 15 minutes of the day with the shipped contact policy, the
   real templates rendered into the outbox (no SMTP: the bench measures the platform, not a
   mail server). Steps per second count every outcome given a claimed step (sent,
   skipped, deferred; a step deferred to later in the day and sent then counts twice).
4. The baseline is the dispatcher at `BASELINE` (one transaction per write, a query per step
   for its context and its cap), checked out with `git archive` and run in a subprocess on
   a store that commit's code created, holding the first `--baseline-steps` of the same due
   steps and the same history, in one pass at the end of the day (it had no send windows).

Prints a table and one JSON line. PostgreSQL: CS_BENCH_POSTGRES_URL (default the local
server as postgres); the databases `cs_bench_dispatch*` are dropped and made again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from cs_assets.channels.email import EmailChannel, Recipient, UnsubscribeSettings
from cs_assets.dev.benchmarks.common import peak_rss_mb
from cs_assets.playbooks import load_playbooks
from cs_assets.playbooks.enrolment import send_time
from cs_assets.playbooks.policy import zone
from cs_assets.playbooks.sender import Sender
from cs_assets.settings import cs_home
from cs_assets.state.delivery import dispatch
from cs_assets.state.schema import SENT, csm_assignments, enrolments, step_executions
from cs_assets.state.store import state_engine

BASELINE = "8723793"  # the dispatcher before batch transactions and the contact policy
DAY = date(2026, 11, 2)
PASS_EVERY = timedelta(minutes=15)
SEED = 11
CHUNK = 5_000
PG_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
MARKETING = ("email", "in_app")
HISTORY_RATE = 0.4  # marketing messages sent per household a day before the bench day


def demo_messages(state_url: str) -> pl.DataFrame:
    """Every message a demo run scheduled: playbook, template, channel, its render context."""
    engine = sa.create_engine(state_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(enrolments.c.playbook, step_executions.c.template,
                      step_executions.c.channel, enrolments.c.context)
            .join(enrolments, enrolments.c.enrolment_id == step_executions.c.enrolment_id)
        ).all()
    engine.dispose()
    messages = [(p, t, c, json.dumps(ctx[t])) for p, t, c, ctx in rows if ctx and t in ctx]
    if not messages:
        sys.exit(f"no messages in {state_url}: run `make demo` first")
    return pl.DataFrame(messages, orient="row",
                        schema=["playbook", "template", "channel", "context"])


def build_store(engine: sa.Engine, messages: pl.DataFrame, zones: dict[str, str | None],
                steps: int, history_days: int) -> None:
    """The day's due steps and the earlier days' sent marketing, as the runner writes them
    (one enrolment per step), inserted in bulk."""
    rng = random.Random(SEED)
    catalog = load_playbooks()
    households = sorted(zones)
    picks = messages.rows()
    marketing = [m for m in picks if m[2] in MARKETING]
    now = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    present = {c["name"] for c in sa.inspect(engine).get_columns("step_executions")}
    with engine.begin() as conn:
        conn.execute(sa.insert(csm_assignments), [
            dict(household_id=h, as_of=DAY - timedelta(days=history_days), csm_id=f"csm_{i % 12}",
                 route="csm", assigned_at=now) for i, h in enumerate(households)])
    daily_history = round(HISTORY_RATE * len(households))
    plan = [(DAY - timedelta(days=back), marketing, True, daily_history)
            for back in range(history_days, 0, -1)] + [(DAY, picks, False, steps)]
    next_id = 1
    for day, pool, sent, count in plan:
        for start in range(0, count, CHUNK):
            enrols, due = [], []
            for n in range(start, min(start + CHUNK, count)):
                playbook, template, channel, context = rng.choice(pool)
                household = rng.choice(households)
                at = send_time(day, catalog.send_hour, zone(zones[household]))
                rank = catalog.priority(playbook) if playbook in catalog.playbooks else 0
                enrols.append(dict(enrolment_id=next_id, playbook=playbook,
                                   household_id=household, enrolment_key=f"{day}-{n}",
                                   enrolled_on=day, holdout=False, created_at=at,
                                   context={template: json.loads(context)}))
                step = dict(enrolment_id=next_id, step_index=0, channel=channel,
                            template=template, message_id=f"<{day}-{n}@bench.invalid>",
                            due_at=at, next_attempt_at=at, priority=rank,
                            status=SENT if sent else "pending", sent_at=at if sent else None,
                            attempts=1 if sent else 0)
                # only the columns the store has: the baseline's has no priority
                due.append({k: v for k, v in step.items() if k in present})
                next_id += 1
            with engine.begin() as conn:
                conn.execute(sa.insert(enrolments), enrols)
                conn.execute(sa.insert(step_executions), due)


def run_day(engine: sa.Engine, zones: dict[str, str | None]) -> tuple[Counter, float, int]:
    """Dispatcher passes at every quarter hour of the day; (outcomes, seconds, passes)."""
    clock = [datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)]
    email = EmailChannel(None, UnsubscribeSettings(b"bench", mailto="u@bench.invalid"),
                         lambda: clock[0])
    recipients = {h: Recipient(h, f"{h}@bench.invalid", "Sam") for h in zones}
    sender = Sender(email, recipients, load_playbooks().contact_policy, zones=zones,
                    now=lambda: clock[0])
    outcomes: Counter = Counter()
    passes = 0
    started = time.perf_counter()
    while clock[0].date() == DAY:
        outcomes += dispatch(engine, "bench", sender, lambda: clock[0])
        clock[0] += PASS_EVERY
        passes += 1
    return outcomes, time.perf_counter() - started, passes


BASELINE_SCHEMA = """
import sys
from cs_assets.state.store import state_engine
state_engine(sys.argv[1]).dispose()
"""
BASELINE_DRIVER = """
import json, sys, time
from datetime import datetime, timedelta, timezone
import sqlalchemy as sa
from cs_assets.channels.email import EmailChannel, Recipient, UnsubscribeSettings
from cs_assets.playbooks.sender import Sender
from cs_assets.state.delivery import dispatch
from cs_assets.state.schema import enrolments
from cs_assets.state.store import state_engine

url, day = sys.argv[1], datetime.fromisoformat(sys.argv[2])
engine = state_engine(url)
with engine.connect() as conn:
    households = conn.execute(sa.select(enrolments.c.household_id).distinct()).scalars().all()
end = day + timedelta(days=1) - timedelta(minutes=1)
email = EmailChannel(engine, None, UnsubscribeSettings(b"bench", mailto="u@bench.invalid"),
                     lambda: end)
sender = Sender(engine, email, {h: Recipient(h, f"{h}@bench.invalid", "Sam") for h in households},
                marketing_per_day=2, now=lambda: end)
started = time.perf_counter()
outcomes = dispatch(engine, "baseline", sender, lambda: end)
print(json.dumps({"seconds": time.perf_counter() - started, "outcomes": dict(outcomes)}))
"""


def run_baseline(url: str, build: Callable[[sa.Engine], None]) -> dict:
    """The dispatcher at BASELINE, in a subprocess importing that commit's code, on a store
    that commit's code made (`build` fills it with the columns it has)."""
    repo = Path(__file__).resolve().parents[3]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "baseline.tar"
        subprocess.run(["git", "-C", str(repo), "archive", "-o", str(archive), BASELINE,
                        "cs_assets"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": tmp}
        subprocess.run([sys.executable, "-c", BASELINE_SCHEMA, url], env=env, cwd=tmp,
                       check=True)
        engine = sa.create_engine(url)
        build(engine)
        engine.dispose()
        done = subprocess.run([sys.executable, "-c", BASELINE_DRIVER, url,
                               datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
                               .isoformat()],
                              env=env, cwd=tmp, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_url(store: str, name: str, folder: Path) -> str:
    if store == "sqlite":
        path = folder / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = sa.create_engine(os.environ.get("CS_BENCH_POSTGRES_URL", PG_DEFAULT),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # identifiers from this module's constants only
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    return url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=30_000)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--baseline-steps", type=int, default=5_000)
    parser.add_argument("--history-days", type=int, default=6)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args(argv)
    home = cs_home()
    messages = demo_messages(f"sqlite:///{home / 'state.db'}")
    demo_zones = pl.read_parquet(home / "raw" / "households.parquet", columns=["timezone"])
    rng = random.Random(SEED)
    zone_pool = demo_zones["timezone"].to_list()
    zones = {f"hh_b{i:06d}": rng.choice(zone_pool) for i in range(args.households)}
    folder = home / "bench" / "dispatch"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{len(messages):,} demo messages ({messages['template'].n_unique()} templates), "
          f"{args.households:,} households, {args.steps:,} steps due on {DAY} and "
          f"{args.history_days} days of sent history", flush=True)
    results = {}
    for store in args.stores.split(","):
        url = fresh_url(store, "cs_bench_dispatch", folder)
        engine = state_engine(url)
        build_store(engine, messages, zones, args.steps, args.history_days)
        outcomes, seconds, passes = run_day(engine, zones)
        engine.dispose()
        handled = sum(outcomes.values())
        base_url = fresh_url(store, "cs_bench_dispatch_baseline", folder)
        baseline = run_baseline(base_url, lambda engine: build_store(
            engine, messages, zones, args.baseline_steps, args.history_days))
        base_handled = sum(baseline["outcomes"].values())
        results[store] = {
            "steps": handled, "seconds": round(seconds, 2), "passes": passes,
            "steps_per_second": round(handled / seconds, 1), "outcomes": dict(outcomes),
            "baseline_steps": base_handled, "baseline_seconds": round(baseline["seconds"], 2),
            "baseline_steps_per_second": round(base_handled / baseline["seconds"], 1),
            "baseline_outcomes": baseline["outcomes"],
        }
        results[store]["speedup"] = round(results[store]["steps_per_second"]
                                          / results[store]["baseline_steps_per_second"], 1)
        r = results[store]
        print(f"{store:>9}: {r['steps']:,} outcomes of {args.steps:,} due steps in "
              f"{r['seconds']} s over {passes} passes = {r['steps_per_second']:,} steps/s "
              f"{r['outcomes']}; baseline ({BASELINE}) {r['baseline_steps']:,} in "
              f"{r['baseline_seconds']} s = {r['baseline_steps_per_second']:,} steps/s: "
              f"{r['speedup']}x", flush=True)
    peak = round(peak_rss_mb())
    print(f"peak memory {peak} MiB; target: >= 50,000 steps in <= 60 s on each store")
    print(json.dumps({"bench": "dispatch", "day": DAY.isoformat(), "households":
                      args.households, "peak_rss_mb": peak, "stores": results}))


if __name__ == "__main__":
    main()
