"""`LocalClock` gives the local hour and weekday polars' own zone conversion gives, through
daylight-saving changes, including those on a half hour of UTC."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from cs_assets.features.local_time import LocalClock, span_of

# Each zone with a window around one of its 2026 changes (UTC).
CHANGES = {
    "America/New_York": datetime(2026, 11, 1, 6, tzinfo=UTC),  # 02:00 EDT -> 01:00 EST
    "Europe/Berlin": datetime(2026, 10, 25, 1, tzinfo=UTC),  # 03:00 CEST -> 02:00 CET
    "America/St_Johns": datetime(2026, 11, 1, 4, 30, tzinfo=UTC),  # 02:00 NDT -> 01:00 NST
    "Australia/Lord_Howe": datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # 02:00 -> 02:30
    "Asia/Kolkata": datetime(2026, 10, 20, tzinfo=UTC),  # no change: +05:30 all year
}


@pytest.mark.parametrize("zone", sorted(CHANGES))
def test_local_hour_and_weekday_match_the_zone_conversion(zone):
    change = CHANGES[zone]
    midnight = datetime(change.year, change.month, change.day, tzinfo=UTC)
    instants = pl.datetime_range(  # every 7 minutes from the day before to the day after
        midnight - timedelta(days=1), midnight + timedelta(days=2), "7m",
        time_unit="us", time_zone="UTC", eager=True,
    )
    frame = pl.DataFrame({"at": instants, "zone": zone})
    clock = LocalClock.covering(["Asia/Kolkata", None, zone], *span_of(frame.lazy(), "at"))
    hour, weekday = clock.local(pl.col("at"), clock.zone_index(pl.col("zone")))
    local = pl.col("at").dt.convert_time_zone(zone)
    got = frame.select(hour=hour, weekday=weekday, want_hour=local.dt.hour().cast(pl.Int8),
                       want_weekday=local.dt.weekday().cast(pl.Int8))
    wrong = got.filter((pl.col("hour") != pl.col("want_hour"))
                       | (pl.col("weekday") != pl.col("want_weekday")))
    assert got.height > 600 and wrong.height == 0, wrong.head()
