"""CS_PARTITIONS_START: an ISO date no later than the reference time (or today), and a bad
value fails the import naming the variable."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from cs_assets.defs.shared.partitions import partitions_start
from cs_assets.settings import ConfigError, reference_setting

# conftest points CS_HOME at an empty folder: no clock left by a demo is read
HOME = {"CS_HOME": os.environ["CS_HOME"]}

def test_start_is_an_iso_date_defaulting_to_2025():
    blank = {**HOME, "CS_PARTITIONS_START": " "}
    assert partitions_start(HOME) == partitions_start(blank) == date(2025, 1, 1)
    assert partitions_start({**HOME, "CS_PARTITIONS_START": "2025-03-01"}) == date(2025, 3, 1)
    for value in ("last year", "2025-02-30", "01/03/2025"):
        with pytest.raises(ConfigError, match=f"CS_PARTITIONS_START: .*{value!r}"):
            partitions_start({**HOME, "CS_PARTITIONS_START": value})


def test_start_is_not_after_the_reference_time_or_today():
    today = datetime.now(UTC).date()
    assert partitions_start({**HOME, "CS_PARTITIONS_START": today.isoformat()}) == today
    with pytest.raises(ConfigError, match="CS_PARTITIONS_START: 2999-01-01 is after today"):
        partitions_start({**HOME, "CS_PARTITIONS_START": "2999-01-01"})
    env = {**HOME, "CS_REFERENCE_TIME": "2026-11-01T23:00:00+00:00"}
    assert partitions_start({**env, "CS_PARTITIONS_START": "2026-11-01"}) == date(2026, 11, 1)
    with pytest.raises(ConfigError, match="2026-11-02 is after CS_REFERENCE_TIME"):
        partitions_start({**env, "CS_PARTITIONS_START": "2026-11-02"})
    later = (today + timedelta(days=30)).isoformat()  # a demo whose data ends in the future
    assert partitions_start({**HOME, "CS_REFERENCE_TIME": later, "CS_PARTITIONS_START": later})
    with pytest.raises(ConfigError, match="CS_REFERENCE_TIME"):
        partitions_start({**HOME, "CS_REFERENCE_TIME": "yesterday"})


def test_a_start_in_the_future_fails_the_import():
    env = {**os.environ, "CS_PARTITIONS_START": "2999-01-01"}
    env.pop("CS_REFERENCE_TIME", None)
    proc = subprocess.run([sys.executable, "-c", "import cs_assets.defs.shared.partitions"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "CS_PARTITIONS_START: 2999-01-01" in proc.stderr


def test_the_days_the_demo_left_under_cs_home_are_the_partitions(tmp_path):
    """`make ui` after `make demo` sees the demo's days: none missing, none after its clock."""
    (tmp_path / "reference_time").write_text("2026-11-01\n")
    (tmp_path / "partitions_start").write_text("2026-05-06\n")
    env = {k: v for k, v in os.environ.items() if k != "CS_REFERENCE_TIME"}
    script = ("from cs_assets.defs.shared.partitions import daily_partitions as p\n"
              "print(p.get_first_partition_key(), p.get_last_partition_key())")
    proc = subprocess.run([sys.executable, "-c", script], env={**env, "CS_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2026-05-06", "2026-11-01"], proc.stderr[-2000:]
    assert reference_setting({"CS_HOME": str(tmp_path)}) == "2026-11-01"
    assert reference_setting({"CS_HOME": str(tmp_path), "CS_REFERENCE_TIME": "2026-12-01"}) == (
        "2026-12-01")
    assert reference_setting({"CS_HOME": str(tmp_path / "elsewhere")}) == ""
