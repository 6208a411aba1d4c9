"""The product's plans and regions are configuration: another product's names load, the plan
rules follow its flags, and a bad file fails at load naming the key."""

import os
import subprocess
import sys
import textwrap

import pytest

from cs_assets.contract.product import PRODUCT, ProductConfigError, load_product
from cs_assets.contract.tables import PLANS, REGIONS

ONE_PAID_PLAN = """\
name: Basicly
plans:
  Basic: {paid: false}
  Pro: {paid: true, csm: true}
regions: [NA, EMEA]
"""


def test_petforce_is_the_shipped_product():
    assert PLANS == ("Free", "Premium", "Enterprise") and REGIONS == ("US", "EU", "APAC")
    assert PRODUCT.paid_plans == ("Premium", "Enterprise")
    assert PRODUCT.premium_plans == ("Premium",) and PRODUCT.review_plans == ("Enterprise",)
    assert PRODUCT.first_plan == "Free"


@pytest.mark.parametrize(("text", "message"), [
    ("name: X\nplans:\n  Free: {paid: false, premium: true}\nregions: [US]\n",
     "CS_PRODUCT: .*plans.Free.premium: only a paid plan can have it"),
    ("name: X\nplans:\n  A: {paid: false}\n  B: {paid: false}\nregions: [US]\n",
     "default_plan: required unless exactly one plan is unpaid"),
    ("name: X\nplans:\n  A: {paid: false}\ndefault_plan: Z\nregions: [US]\n",
     "default_plan: 'Z' is not one of plans"),
    ("name: X\nplans:\n  A: {paid: false}\nregions: [US, US]\n", "regions: names a region twice"),
    ("name: X\nplans:\n  A: {paid: no}\nregion: [US]\n", "region"),
])
def test_a_bad_product_file_fails_naming_the_key(tmp_path, text, message):
    path = tmp_path / "product.yaml"
    path.write_text(text)
    with pytest.raises(ProductConfigError, match=message):
        load_product({"CS_PRODUCT": str(path)})


def test_another_products_plans_drive_the_contract_and_the_plan_rules(tmp_path):
    """In a fresh process (the product is read when the code loads): a single paid plan, no
    Premium plan, its own regions; the definitions load with a roster on its plan."""
    (tmp_path / "product.yaml").write_text(ONE_PAID_PLAN)
    (tmp_path / "team.yaml").write_text(textwrap.dedent("""\
        assignments:
          roster:
          - {id: ops_01, display_name: Ops, role: CS Ops, regions: [NA, EMEA]}
          - {id: csm_01, display_name: Ann, role: CSM, specialization: Pro, capacity: 10,
             regions: [NA]}
        """))
    script = textwrap.dedent("""\
        import polars as pl
        import cs_assets.definitions
        from cs_assets.contract.tables import TABLES
        from cs_assets.features.household import FeatureInputs
        from cs_assets.lists import load_lists_config
        from cs_assets.scoring import load_scorecard
        from cs_assets.churn.design import DESIGN_COLUMNS
        schema = TABLES["subscription_changes"].model.to_schema()
        print("to_plan", sorted(schema.columns["to_plan"].checks[0].statistics["allowed_values"]))
        print("save_plans", load_lists_config().downgrade_save.plans)
        print("calendar_plans", load_lists_config().cross_sell.calendar_sync.plans)
        print("premium_adoption", load_scorecard().premium_adoption.plans)
        print("design", [c for c in DESIGN_COLUMNS if c.startswith("plan=")])
        from cs_assets.playbooks.conditions import compile_condition
        plans = pl.DataFrame({"plan": ["Basic", "Pro"]})
        print("premium_rows", plans.filter(compile_condition("plan in premium_plans",
                                                             ["plan"])).height)
        from cs_assets.channels.email import render
        mail = render("onboarding_flow", {"greeting_name": None, "unsubscribe_link": "u"})
        print("subject", mail.subject)
        print("pets", "pet" in mail.text.lower() or "household" in mail.text.lower())
        print("steps", "Finish setting up your account" in mail.text)
        """)
    env = {**os.environ, "CS_PRODUCT": str(tmp_path / "product.yaml"),
           "CS_TEAM": str(tmp_path / "team.yaml"), "CS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert lines["to_plan"] == "['Basic', 'Pro']"
    assert lines["save_plans"] == "[]"  # no Premium plan: the save flow is off
    assert lines["calendar_plans"] == "['Basic']"
    assert lines["premium_adoption"] == "[]"
    assert lines["design"] == "['plan=Basic', 'plan=Pro']"
    assert lines["premium_rows"] == "0"  # no premium plan: premium playbooks enrol no one
    # messages name the product and, without a voice of its own, speak neutrally
    assert lines["subject"] == "Welcome to Basicly! Your setup checklist"
    assert lines["pets"] == "False" and lines["steps"] == "True"
