"""Each bad-input case: exactly which rows are quarantined and why; schema errors name columns."""

from __future__ import annotations

import polars as pl
import pytest

from cs_assets.contract.events import load_event_mapping
from cs_assets.contract.tables import TABLES, plan_history_order
from cs_assets.ingestion.conform import ContractSchemaError, shown
from cs_assets.ingestion.validate import ORIGINAL, REASON, RULES, validate_table
from cs_assets_tests import factories as f

MAPPING = load_event_mapping()


def run(table: str, raw: pl.DataFrame, **parents: pl.DataFrame):
    return validate_table(
        TABLES[table], raw, reference_time=f.REFERENCE, parents=parents, event_mapping=MAPPING
    )


def quarantined(result) -> dict[str, str]:
    key = TABLES[result.table].key
    return dict(zip(result.quarantine[key].to_list(), result.quarantine[REASON].to_list(),
                    strict=True))


def with_rows(base: pl.DataFrame, table: str, *rows: dict) -> pl.DataFrame:
    return pl.concat([base, f.frame(table, list(rows))])


def test_clean_tables_pass_whole():
    hh = run("households", f.households())
    assert hh.valid.height == 2 and hh.quarantine.height == 0
    ev = run("activity_events", f.events(), households=hh.valid, members=f.members())
    assert ev.valid.height == 3 and ev.quarantine.height == 0


def test_null_and_unknown_household_ids_in_events():
    raw = with_rows(
        f.events(), "activity_events",
        dict(event_id="ev_null", household_id=None, occurred_at=f.ts(5), event_type="app_login"),
        dict(event_id="ev_ghost", household_id="hh_ghost", occurred_at=f.ts(5),
             event_type="app_login"),
    )
    result = run("activity_events", raw, households=f.households(), members=f.members())
    assert quarantined(result) == {
        "ev_null": "household_id is null",
        "ev_ghost": "household_id 'hh_ghost' does not exist in households",
    }
    assert result.valid["event_id"].to_list() == ["ev_1", "ev_2", "ev_3"]


def test_null_household_id_in_households():
    raw = with_rows(f.households(), "households",
                    dict(household_id=None, created_at=f.ts(1), region="US", email_opt_out=False))
    result = run("households", raw)
    assert result.quarantine["_source_row"].to_list() == [2]
    assert result.quarantine[REASON].to_list() == ["household_id is null"]


def test_duplicate_primary_keys_keep_the_first():
    raw = with_rows(
        f.households(), "households",
        dict(household_id="hh_1", created_at=f.ts(3), region="APAC", email_opt_out=False),
    )
    result = run("households", raw)
    assert result.valid["household_id"].to_list() == ["hh_1", "hh_2"]
    assert result.valid["region"].to_list() == ["US", "EU"]
    assert result.quarantine["_source_row"].to_list() == [2]
    assert result.quarantine[REASON].item() == "duplicate household_id 'hh_1' (row 0 kept)"


def test_timestamps_after_reference_time_and_before_signup():
    raw = with_rows(
        f.events(), "activity_events",
        dict(event_id="ev_future", household_id="hh_1", occurred_at=f.REFERENCE,
             event_type="app_login"),
        dict(event_id="ev_early", household_id="hh_2", occurred_at=f.ts(9),
             event_type="app_login"),
    )
    result = run("activity_events", raw, households=f.households(), members=f.members())
    reasons = quarantined(result)
    assert set(reasons) == {"ev_future", "ev_early"}
    assert reasons["ev_future"].startswith("occurred_at 2026-06-01 00:00:00")
    assert "is not before the reference time 2026-06-01T00:00:00+00:00" in reasons["ev_future"]
    assert reasons["ev_early"].startswith("occurred_at 2026-01-10 00:00:00")
    assert "is before the household's signup 2026-01-11" in reasons["ev_early"]


def test_churn_in_the_future_is_quarantined():
    raw = with_rows(f.households(), "households",
                    dict(household_id="hh_3", created_at=f.ts(1), region="US",
                         email_opt_out=False, churned_at=f.REFERENCE))
    result = run("households", raw)
    assert list(quarantined(result)) == ["hh_3"]
    assert result.quarantine[RULES].to_list() == [["households.churned_at: after reference time"]]


def test_negative_session_minutes_and_amounts():
    events = with_rows(
        f.events(), "activity_events",
        dict(event_id="ev_neg", household_id="hh_1", occurred_at=f.ts(4),
             event_type="app_session", session_minutes=-3.0),
    )
    result = run("activity_events", events, households=f.households(), members=f.members())
    assert quarantined(result) == {
        "ev_neg": "session_minutes fails greater_than_or_equal_to(0) (got -3.0)"
    }
    payments = f.frame("payments", [
        dict(payment_id="pay_ok", household_id="hh_1", due_at=f.ts(30), paid_at=f.ts(30),
             amount=100.0, status="paid"),
        dict(payment_id="pay_neg", household_id="hh_1", due_at=f.ts(60), paid_at=f.ts(60),
             amount=-100.0, status="paid"),
    ])
    result = run("payments", payments, households=f.households())
    assert quarantined(result) == {
        "pay_neg": "amount fails greater_than_or_equal_to(0) (got -100.0)"
    }


@pytest.mark.parametrize("csat, ok", [(0, False), (1, True), (5, True), (6, False)])
def test_csat_outside_one_to_five(csat, ok):
    tickets = f.frame("support_tickets", [
        dict(ticket_id="t_1", household_id="hh_1", created_at=f.ts(5), resolved_at=f.ts(6),
             priority="low", csat_score=csat),
    ])
    result = run("support_tickets", tickets, households=f.households())
    assert (result.valid.height == 1) is ok
    if not ok:
        assert result.quarantine[RULES].to_list()[0] == [
            "support_tickets.csat_score: " + ("greater_than_or_equal_to(1)" if csat < 1
                                              else "less_than_or_equal_to(5)")
        ]


@pytest.mark.parametrize("score, ok", [(-1, False), (0, True), (10, True), (11, False)])
def test_nps_outside_zero_to_ten(score, ok):
    nps = f.frame("nps_responses", [
        dict(response_id="n_1", household_id="hh_1", responded_at=f.ts(40), score=score),
    ])
    result = run("nps_responses", nps, households=f.households())
    assert (result.valid.height == 1) is ok
    assert (result.quarantine.height == 1) is (not ok)


def test_unknown_plan_and_region():
    households = with_rows(f.households(), "households",
                           dict(household_id="hh_mars", created_at=f.ts(1), region="MARS",
                                email_opt_out=False))
    result = run("households", households)
    assert quarantined(result) == {
        "hh_mars": "region 'MARS' is not an allowed value"
    }
    changes = with_rows(f.subscription_changes(), "subscription_changes",
                        dict(change_id="sc_gold", household_id="hh_1", changed_at=f.ts(50),
                             change_type="upgrade", from_plan="Free", to_plan="Gold",
                             mrr_after=100.0))
    result = run("subscription_changes", changes, households=f.households())
    assert list(quarantined(result)) == ["sc_gold"]
    assert result.quarantine[RULES].to_list()[0] == ["subscription_changes.to_plan: allowed values"]
    assert result.quarantine[REASON].item() == "to_plan 'Gold' is not an allowed value"


def test_churn_date_disagreeing_with_cancellation_row():
    changes = f.subscription_changes().with_columns(
        changed_at=pl.when(pl.col("change_id") == "sc_3").then(pl.lit(f.ts(90)))
        .otherwise(pl.col("changed_at"))
    )
    changes = with_rows(changes, "subscription_changes",
                        dict(change_id="sc_4", household_id="hh_1", changed_at=f.ts(70),
                             change_type="cancel", from_plan="Free", mrr_after=0.0))
    result = run("subscription_changes", changes, households=f.households())
    assert quarantined(result) == {
        "sc_3": "cancellation on 2026-04-01 disagrees with households.churned_at 2026-04-11",
        "sc_4": "cancellation row but households.churned_at is empty",
    }


def test_event_user_must_belong_to_the_household_and_payloads_present():
    raw = with_rows(
        f.events(), "activity_events",
        dict(event_id="ev_stranger", household_id="hh_1", user_id="u_2", occurred_at=f.ts(12),
             event_type="app_login"),
        dict(event_id="ev_nominutes", household_id="hh_1", occurred_at=f.ts(12),
             event_type="app_session"),
        dict(event_id="ev_custom", household_id="hh_1", occurred_at=f.ts(12),
             event_type="my_product_thing"),
    )
    result = run("activity_events", raw, households=f.households(), members=f.members())
    assert quarantined(result) == {
        "ev_stranger": "user_id 'u_2' is not a member of household 'hh_1'",
        "ev_nominutes": "'app_session' event without session_minutes",
    }
    assert "ev_custom" in result.valid["event_id"].to_list()  # unmapped types are kept


def test_several_reasons_on_one_row_are_all_kept():
    """All of a row's reasons are kept; a copy of a key that is invalid anyway is not also
    called a duplicate (the first *valid* copy is kept)."""
    raw = with_rows(f.events(), "activity_events",
                    dict(event_id="ev_1", household_id="hh_ghost", occurred_at=f.REFERENCE,
                         event_type="app_session", session_minutes=-1.0))
    result = run("activity_events", raw, households=f.households(), members=f.members())
    assert result.quarantine.height == 1
    assert sorted(result.quarantine[RULES].to_list()[0]) == sorted([
        "activity_events.session_minutes: greater_than_or_equal_to(0)",
        "activity_events.occurred_at: after reference time",
        "activity_events.household_id: unknown",
    ])


def test_non_utf8_comment_is_quarantined_with_the_text_kept():
    nps = f.frame("nps_responses", [
        dict(response_id="n_ok", household_id="hh_1", responded_at=f.ts(40), score=9,
             comment="love it"),
        dict(response_id="n_bad", household_id="hh_1", responded_at=f.ts(41), score=3),
    ]).with_columns(
        comment=pl.Series([b"love it", b"caf\xe9 is slow"], dtype=pl.Binary)
    )
    result = run("nps_responses", nps, households=f.households())
    assert result.valid["comment"].to_list() == ["love it"]
    assert quarantined(result) == {"n_bad": "comment: not valid UTF-8 text"}
    assert result.quarantine["comment"].item() == "caf\\xe9 is slow"


def test_missing_column_is_a_schema_error_naming_table_and_column():
    with pytest.raises(ContractSchemaError, match=r"table 'support_tickets'.*csat_score"):
        run("support_tickets", f.frame("support_tickets", []).drop("csat_score"),
            households=f.households())


def test_wrong_type_is_a_schema_error_naming_table_and_column():
    raw = f.households().with_columns(created_at=pl.lit(True))
    with pytest.raises(ContractSchemaError,
                       match=r"table 'households', .*column 'created_at': type Boolean"):
        run("households", raw)


def test_text_is_read_as_the_contract_type_and_what_does_not_parse_is_kept():
    raw = f.households().with_columns(
        created_at=pl.Series(["2026-01-01T00:00:00Z", "2026-01-11 02:00:00+02:00"]),
        email_opt_out=pl.Series(["false", "yes"]),
    )
    result = run("households", raw)
    assert result.valid["created_at"].to_list() == [f.SIGNUP, f.ts(10)]
    assert result.valid["email_opt_out"].to_list() == [False, True]
    nps = f.frame("nps_responses", [
        dict(response_id="n_1", household_id="hh_1", responded_at=f.ts(40)),
        dict(response_id="n_2", household_id="hh_1", responded_at=f.ts(41)),
    ]).with_columns(score=pl.Series(["9", "seven"]))
    result = run("nps_responses", nps, households=f.households())
    assert result.valid["score"].to_list() == [9]
    assert quarantined(result) == {"n_2": "score: 'seven' is not a whole number"}
    assert result.quarantine[ORIGINAL].to_list() == ['{"score": "seven"}']


def test_compatible_types_are_converted():
    raw = f.households().with_columns(
        pl.col("created_at").dt.replace_time_zone(None).dt.cast_time_unit("ns"),
        extra=pl.lit(1),
    )
    result = run("households", raw)
    assert result.valid.schema == pl.Schema(TABLES["households"].columns)
    assert result.extra_columns == ["extra"]
    tickets = f.frame("support_tickets", [
        dict(ticket_id="t_1", household_id="hh_1", created_at=f.ts(5), priority="low"),
        dict(ticket_id="t_2", household_id="hh_1", created_at=f.ts(5), priority="low"),
    ]).with_columns(csat_score=pl.Series([4.0, 4.5]))
    result = run("support_tickets", tickets, households=f.households())
    assert result.valid["csat_score"].to_list() == [4]
    assert quarantined(result) == {"t_2": "csat_score: 4.5 is not a whole number"}


def test_empty_table_is_valid():
    result = run("reviews", f.frame("reviews", []), households=f.households())
    assert result.valid.height == 0 and result.quarantine.height == 0 and result.invalid_share == 0


def test_non_finite_numbers_are_quarantined_showing_the_value():
    payments = f.frame("payments", [
        dict(payment_id=f"pay_{i}", household_id="hh_1", due_at=f.ts(30), paid_at=f.ts(30),
             amount=amount, status="paid")
        for i, amount in enumerate([100.0, float("inf"), float("nan"), None])
    ])
    assert quarantined(run("payments", payments, households=f.households())) == {
        "pay_1": "amount inf is not a finite number",
        "pay_2": "amount NaN is not a finite number",
        "pay_3": "amount is null",  # a null is still a null, not a non-finite number
    }
    changes = f.subscription_changes().with_columns(
        mrr_after=pl.when(pl.col("change_id") == "sc_2").then(float("inf"))
        .otherwise(pl.col("mrr_after")))
    assert quarantined(run("subscription_changes", changes, households=f.households())) == {
        "sc_2": "mrr_after inf is not a finite number"}


def test_pet_health_values_outside_their_metric_range_are_quarantined():
    observations = f.frame("pet_health_observations", [
        dict(observation_id=f"o_{i}", pet_id="pet_1", observed_at=f.ts(20), metric=metric,
             value=value)
        for i, (metric, value) in enumerate([
            ("wellness_score", 85.0), ("wellness_score", 85_000.0), ("weight_kg", 31.5),
            ("weight_kg", 3150.0), ("activity_minutes", 90.0), ("wellness_score", float("inf")),
        ])
    ])
    result = run("pet_health_observations", observations, pets=f.pets())
    assert quarantined(result) == {
        "o_1": "value 85000.0 is outside wellness_score's range 0.0 to 100.0",
        "o_3": "value 3150.0 is outside weight_kg's range 0.0 to 500.0",
        "o_5": "value inf is not a finite number; "
               "value inf is outside wellness_score's range 0.0 to 100.0",
    }


def _plan_rows(*rows):
    return f.frame("subscription_changes", [
        dict(household_id="hh_1", changed_at=f.ts(days), change_type=kind, from_plan=frm,
             to_plan=to, mrr_after=mrr, change_id=cid)
        for cid, days, kind, frm, to, mrr in rows
    ])


def test_a_change_at_the_same_instant_as_new_is_read_after_it_whatever_the_file_order():
    rows = [("sc_a", 0, "new", None, "Free", 0.0), ("sc_b", 0, "upgrade", "Free", "Premium", 9.99)]
    for ordered in (rows, rows[::-1]):
        result = run("subscription_changes", _plan_rows(*ordered), households=f.households())
        assert result.quarantine.height == 0
        history = result.valid.sort(plan_history_order())
        assert history["to_plan"].to_list()[-1] == "Premium"


def test_contradictory_plan_history_is_quarantined():
    changes = _plan_rows(
        ("sc_1", 0, "new", None, "Free", 0.0),
        ("sc_2", 5, "upgrade", "Free", "Premium", 9.99),
        ("sc_3", 7, "new", None, "Free", 0.0),  # a second start
        ("sc_4", 9, "downgrade", "Enterprise", "Free", 0.0),  # from a plan not held
        ("sc_5", 9, "upgrade", "Free", "Enterprise", 30.0),  # overlaps sc_4: held Free?
    )
    result = run("subscription_changes", changes, households=f.households())
    assert quarantined(result) == {
        "sc_3": "a second 'new' row for household 'hh_1' (the first is 'sc_1')",
        "sc_4": "downgrade from 'Enterprise' but the household held 'Premium' (after 'sc_2')",
        "sc_5": "upgrade from 'Free' but the household held 'Premium' (after 'sc_2')",
    }
    before = _plan_rows(("sc_1", 3, "new", None, "Free", 0.0),
                        ("sc_0", 1, "upgrade", "Free", "Premium", 9.99))
    assert quarantined(run("subscription_changes", before, households=f.households())) == {
        "sc_0": "upgrade before the household's 'new' row"}


def test_reasons_show_invisible_characters_and_keep_the_value_that_did_not_convert():
    raw = with_rows(
        f.events(), "activity_events",
        dict(event_id="ev_space", household_id="hh_1 ", occurred_at=f.ts(5),
             event_type="app_login"),
        dict(event_id="ev_zwsp", household_id="hh_1\u200b", occurred_at=f.ts(5),
             event_type="app_login"),
    )
    result = run("activity_events", raw, households=f.households(), members=f.members())
    assert quarantined(result) == {
        "ev_space": "household_id 'hh_1 ' does not exist in households",
        "ev_zwsp": "household_id 'hh_1\\u200b' does not exist in households",
    }
    nps = f.frame("nps_responses", [
        dict(response_id="n_1", household_id="hh_1", responded_at=f.ts(40)),
        dict(response_id="n_2", household_id="hh_1", responded_at=f.ts(41)),
    ]).with_columns(score=pl.Series([9.0, 7.5]))
    result = run("nps_responses", nps, households=f.households())
    assert quarantined(result) == {"n_2": "score: 7.5 is not a whole number"}
    assert result.quarantine[ORIGINAL].to_list() == ['{"score": "7.5"}']


def test_personal_data_is_masked_in_reasons_and_kept_in_the_quarantine():
    raw = f.households().with_columns(
        owner_name=pl.Series(["Ada Lovelace", "Grace Hopper"]),
        email=pl.Series(["ada@example.org", "grace@example.org"]),
    ).with_columns(household_id=pl.lit("hh_1"))
    result = run("households", raw)
    reasons = "".join(result.quarantine[REASON].to_list())
    assert result.quarantine["owner_name"].to_list() == ["Grace Hopper"]
    assert "Grace" not in reasons and "grace@" not in reasons
    assert shown("Grace Hopper", masked=True) == "<masked>"
    assert TABLES["households"].pii_columns == {"owner_name", "email"}


def test_an_invalid_first_copy_of_a_key_does_not_take_the_valid_one_with_it():
    raw = pl.concat([
        f.frame("households", [dict(household_id="hh_1", created_at=f.ts(1), region="MARS",
                                    email_opt_out=False)]),
        f.households(),
        f.frame("households", [dict(household_id="hh_1", created_at=f.ts(2), region="EU",
                                    email_opt_out=False)]),
    ])
    result = run("households", raw)
    assert result.valid["household_id"].to_list() == ["hh_1", "hh_2"]
    assert result.valid["region"].to_list() == ["US", "EU"]
    assert result.quarantine["_source_row"].to_list() == [0, 3]
    assert result.quarantine[REASON].to_list() == [
        "region 'MARS' is not an allowed value", "duplicate household_id 'hh_1' (row 1 kept)"]
    members = run("members", f.members(), households=result.valid)
    assert members.quarantine.height == 0  # hh_1's children are not orphaned


def test_activity_and_tickets_after_churn_are_kept():
    """Facts after churn (a login to export data, a refund ticket) are kept; scores never see
    them because a churned household is not scored from its churn day on."""
    events = with_rows(f.events(), "activity_events",
                       dict(event_id="ev_late", household_id="hh_2", user_id="u_2",
                            occurred_at=f.ts(120), event_type="app_login"))
    result = run("activity_events", events, households=f.households(), members=f.members())
    assert "ev_late" in result.valid["event_id"].to_list()
    tickets = f.frame("support_tickets", [
        dict(ticket_id="t_late", household_id="hh_2", created_at=f.ts(110), priority="low")])
    assert run("support_tickets", tickets, households=f.households()).quarantine.height == 0
