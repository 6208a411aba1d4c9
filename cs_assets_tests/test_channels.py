"""Channels: every template renders and refuses a missing variable; a message carries its step's
Message-ID and, for marketing only, List-Unsubscribe. Against a real SMTP server (aiosmtpd):
each due step is sent once however often dispatch runs, an outage delays mail but loses none,
opted-out households get transactional email only, an address that can never work is skipped
and a connection lost during DATA leaves the step in_doubt. Without SMTP settings messages land
in the outbox only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from jinja2 import UndefinedError

from cs_assets.channels.email import (
    EMAIL,
    EMAIL_TRANSACTIONAL,
    TRANSACTIONAL_TEMPLATES,
    EmailChannel,
    Recipient,
    SmtpSettings,
    UnsubscribeSettings,
    compose,
    household_from_token,
    record_unsubscribe,
    render,
    template_names,
    to_message,
    unsubscribe_token,
)
from cs_assets.channels.tables import (
    IN_APP,
    CsmTaskChannel,
    InAppChannel,
    Notification,
    Task,
)
from cs_assets.defs.shared.resources import check_mail_settings
from cs_assets.playbooks.enrolment import StepPlan
from cs_assets.settings import ConfigError
from cs_assets.state import delivery as d
from cs_assets.state.schema import (
    CSM_TASK,
    csm_assignments,
    csm_tasks,
    in_app_notifications,
    outbox,
    step_executions,
)
from cs_assets.state.store import opted_out, record_opt_out, state_engine
from cs_assets_tests.factories import enrol, schedule_steps
from cs_assets_tests.smtp import Inbox, free_port, smtp_server

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
SECRET = b"test-unsubscribe-secret"
UNSUBSCRIBE = UnsubscribeSettings(
    SECRET, url="https://example.test/unsubscribe?list=cs", mailto="unsubscribe@example.test"
)
FEATURES = [
    {"name": "Calendar Sync", "benefit": "Never miss a vet appointment"},
    {"name": "Advanced Analytics", "benefit": "See how your pets are really doing"},
]
# One context per template: the variables it needs beyond greeting_name and unsubscribe_link.
SAMPLES: dict[str, dict] = {
    "addon_offer": {
        "addon": {
            "name": "Calendar Sync Pro",
            "price": "$3/month",
            "benefit": "Sync with Google Calendar, Outlook, Apple Calendar",
        },
        "addon_url": "https://example.test/addons?a=calendar_sync&x=1",
    },
    "adoption_congratulations": {},
    "anniversary": {"years": 2},
    "declining_usage": {
        "decline_metric": "task_completion",
        "percent_change": -45.2,
        "csm_name": "Casey",
    },
    "dormant_reengagement": {},
    "feature_discovery": {"features": FEATURES},
    "invite_household_members": {
        "benefits": ["Share pet care", "See who did what"],
        "incentive": "Invite 2+ members, get 1 month Premium free",
    },
    "onboarding_flow": {},
    "premium_adoption_check_in": {
        "csm_name": "Casey",
        "booking_url": "https://example.test/b",
        "unused_features": ["Calendar Sync"],
    },
    "premium_roi_check_in": {
        "adoption_score": 55,
        "used_features": ["Advanced Analytics"],
        "unused_features": ["Calendar Sync"],
    },
    "premium_trial_offer": {
        "trial": "7-day free trial",
        "upgrade_url": "https://example.test/upgrade?plan=premium",
    },
    "premium_welcome": {"features": FEATURES},
    "proactive_check_in": {"csm_name": "Casey", "booking_url": "https://example.test/b"},
    "referral_invitation": {
        "referral_url": "https://example.test/r/abc",
        "referrer_reward": "$10 credit",
        "referee_reward": "1 month free",
    },
    "referral_leaderboard_reward": {
        "place": 2,
        "referrals": 7,
        "reward": "6 months Premium free + $50 credit",
    },
    "referral_success_referee": {"reward": "1 month Premium free"},
    "referral_success_referrer": {"reward": "$10 account credit"},
    "review_request": {
        "nps_score": 10,
        "reward": "$20 account credit",
        "review_links": [{"platform": "App Store", "url": "https://apps.apple.com/app/petforce"}],
    },
    "review_thank_you": {"reward": "$20 account credit"},
    "support_tips": {
        "csm_name": "Casey",
        "csm_contact": "support line 1",
        "response_time": "4 hours",
        "support_url": "https://example.test/support",
    },
    "survey_invitation": {"survey_type": "NPS", "survey_url": "https://example.test/s?x=1&y=2"},
    "testimonial_request": {},
    "upsell_offer": {
        "angle": "advanced_analytics",
        "discount": "20% off first 3 months",
        "trial": "7-day free trial",
        "guarantee": "30-day money-back guarantee",
        "upgrade_url": "https://example.test/upgrade",
    },
    "win_back_offer": {"offer": "2 months free Premium + personal onboarding session"},
}
MARKETING = "win_back_offer"
TRANSACTIONAL = "review_thank_you"


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def engine(tmp_path):
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def port() -> int:
    return free_port()


def smtp_settings(port: int, timeout: float = 5.0) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", "cs@example.test", port, starttls=False, timeout=timeout)


def address(household: str) -> str:
    return f"{household}@example.test"


def schedule(engine, household: str, steps: list[tuple[str, str]]) -> None:
    """Enrol `household` with `steps` (channel, template), all due at T0."""
    enrolment = enrol(engine, "test", household, T0.date(), holdout=False, now=T0)
    schedule_steps(engine, enrolment, [StepPlan(i, T0, ch, t) for i, (ch, t) in enumerate(steps)])


def email_sender(channel: EmailChannel, raw_opt_out: frozenset[str] = frozenset()):
    def send(step: d.DueStep, tx: d.Tx) -> None:
        hh = step.household_id
        recipient = Recipient(hh, address(hh), "Zoë", opted_out=hh in raw_opt_out)
        channel.send(step, recipient, SAMPLES[step.template], tx)

    return send


def statuses(engine) -> dict[str, str]:
    """template -> step status (one household per test, templates distinct)."""
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(step_executions.c.template, step_executions.c.status)).all()
        )


def outbox_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(outbox).order_by(outbox.c.template)).all()


# --- templates ------------------------------------------------------------------------------


def test_every_template_has_a_sample_and_transactional_ones_exist():
    assert set(SAMPLES) == template_names()
    assert template_names() >= TRANSACTIONAL_TEMPLATES


@pytest.mark.parametrize("template", sorted(SAMPLES))
def test_template_renders_with_its_unsubscribe_link(template):
    link = "https://example.test/unsubscribe?token=T&x=1"
    subject, text, html = render(
        template, {"greeting_name": "Sam", "unsubscribe_link": link, **SAMPLES[template]}
    )
    assert subject and "\n" not in subject and "{" not in subject
    assert "{{" not in text + html and "{%" not in text + html  # no template text leaks
    assert "Hi Sam," in text and "<p>Hi Sam,</p>" in html
    marketing = template not in TRANSACTIONAL_TEMPLATES
    assert (link in text) == marketing
    assert (link.replace("&", "&amp;") in html) == marketing


@pytest.mark.parametrize("template", sorted(SAMPLES))
def test_template_refuses_a_missing_variable(template):
    context = {
        "greeting_name": None,
        "unsubscribe_link": "mailto:u@example.test",
        **SAMPLES[template],
    }
    required = set(SAMPLES[template]) | {"greeting_name"}
    if template not in TRANSACTIONAL_TEMPLATES:
        required.add("unsubscribe_link")
    for name in required:
        with pytest.raises(UndefinedError):
            render(template, {k: v for k, v in context.items() if k != name})


@pytest.mark.parametrize("survey_type", ["NPS", "CSAT", "Product", "Feature", "Exit"])
def test_every_survey_question_reads_as_a_sentence(survey_type):
    context = {**SAMPLES["survey_invitation"], "survey_type": survey_type}
    _, text, _ = render("survey_invitation", {"greeting_name": None, "unsubscribe_link": "u",
                                              **context})
    assert "{" not in text
    if survey_type == "Product":
        assert "How is PetForce working for your household this year?" in text


def test_one_feature_to_discover_reads_in_the_singular():
    one = {"greeting_name": None, "unsubscribe_link": "u", "features": FEATURES[:1]}
    subject, text, html = render("feature_discovery", one)
    assert subject == "A PetForce feature you haven't tried yet"
    assert "A feature other households rely on" in text and "Try it this week" in text
    assert "Try it this week - it takes" in html
    assert render("feature_discovery", {**one, "features": FEATURES}).subject.startswith(
        f"{len(FEATURES)} PetForce features")


def test_html_escapes_what_the_context_brings():
    _, text, html = render(TRANSACTIONAL, {"greeting_name": "<b>Sam & Jo</b>", "reward": "$20"})
    assert "Hi <b>Sam & Jo</b>," in text
    assert "Hi &lt;b&gt;Sam &amp; Jo&lt;/b&gt;," in html


# --- messages and unsubscribe ---------------------------------------------------------------


def message(template: str, unsubscribe: UnsubscribeSettings = UNSUBSCRIBE, hh: str = "hh_1"):
    url, mailto = unsubscribe.links(hh)
    return to_message(compose(
        message_id="<abc@cs.test>",
        sender="cs@example.test",
        template=template,
        context={"greeting_name": None, **SAMPLES[template]},
        date=T0,
        unsubscribe_url=url,
        unsubscribe_mailto=mailto,
    ), address(hh))


def test_marketing_message_carries_one_click_unsubscribe_without_the_address():
    msg = message(MARKETING)
    assert msg["Message-ID"] == "<abc@cs.test>"
    header = msg["List-Unsubscribe"]
    token = unsubscribe_token("hh_1", SECRET)
    assert header == (
        f"<mailto:unsubscribe@example.test?subject=unsubscribe%20{token}>, "
        f"<https://example.test/unsubscribe?list=cs&token={token}>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert address("hh_1") not in header and "hh_1" not in header
    url = f"https://example.test/unsubscribe?list=cs&token={token}"
    assert url in msg.get_body(("plain",)).get_content()
    assert url.replace("&", "&amp;") in msg.get_body(("html",)).get_content()


def test_mailto_only_unsubscribe_is_not_one_click():
    msg = message(MARKETING, UnsubscribeSettings(SECRET, mailto="unsubscribe@example.test"))
    assert msg["List-Unsubscribe"].startswith("<mailto:unsubscribe@example.test?subject=")
    assert msg["List-Unsubscribe-Post"] is None
    assert "mailto:unsubscribe@example.test" in msg.get_body(("plain",)).get_content()


def test_transactional_message_has_no_unsubscribe():
    msg = message(TRANSACTIONAL)
    assert msg["Message-ID"] == "<abc@cs.test>"
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None
    assert "nsubscribe" not in msg.get_body(("plain",)).get_content()


def test_marketing_message_without_an_unsubscribe_link_is_refused():
    with pytest.raises(ValueError, match="unsubscribe"):
        compose(
            message_id="<abc@cs.test>",
            sender="cs@example.test",
            template=MARKETING,
            context={"greeting_name": None, **SAMPLES[MARKETING]},
            date=T0,
        )


def test_unsubscribe_token_round_trip_and_tampering():
    token = unsubscribe_token("hh_0042", SECRET)
    assert household_from_token(token, SECRET) == "hh_0042"
    encoded, mac = token.split(".")
    other = unsubscribe_token("hh_0043", SECRET).split(".")[0]
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (f"{other}.{mac}", f"{encoded}.{flipped}", encoded, "", "a.b.c", "é.x"):
        assert household_from_token(bad, SECRET) is None
    assert household_from_token(token, b"another secret") is None


def test_record_unsubscribe_opts_the_household_out_of_marketing_email(engine):
    household = household_from_token(unsubscribe_token("hh_7", SECRET), SECRET)
    record_unsubscribe(engine, household, T0)
    record_unsubscribe(engine, household, T0 + timedelta(days=1))  # a second click: harmless
    assert opted_out(engine, EMAIL) == {"hh_7"}
    assert opted_out(engine, EMAIL_TRANSACTIONAL) == frozenset()


def test_settings_from_env():
    assert SmtpSettings.from_env({}) is None
    assert SmtpSettings.from_env({"CS_SMTP_HOST": " "}) is None
    env = {
        "CS_SMTP_HOST": "smtp.example.test",
        "CS_SMTP_FROM": "cs@example.test",
        "CS_SMTP_PORT": "2525",
        "CS_SMTP_USER": "u",
        "CS_SMTP_PASSWORD": "hunter2",
    }
    settings = SmtpSettings.from_env(env)
    assert (settings.host, settings.port, settings.user, settings.starttls) == (
        "smtp.example.test",
        2525,
        "u",
        True,
    )
    assert "hunter2" not in repr(settings)
    with pytest.raises(ValueError, match="CS_SMTP_STARTTLS"):
        SmtpSettings.from_env({**env, "CS_SMTP_STARTTLS": "false"})
    with pytest.raises(ValueError, match="CS_SMTP_FROM"):
        SmtpSettings.from_env({"CS_SMTP_HOST": "smtp.example.test"})
    for port in ("smtp", "0", "99999", "²"):
        with pytest.raises(ValueError, match="CS_SMTP_PORT"):
            SmtpSettings.from_env({**env, "CS_SMTP_PORT": port})
    with pytest.raises(ValueError, match="CS_UNSUBSCRIBE_SECRET"):
        UnsubscribeSettings.from_env({"CS_UNSUBSCRIBE_URL": "https://x.test/u"}, sending=True)
    with pytest.raises(ValueError, match="https"):
        UnsubscribeSettings(SECRET, url="http://x.test/u")
    demo = UnsubscribeSettings.from_env({}, sending=False)
    assert demo.mailto.endswith(".invalid") and demo.url is None


def test_settings_refuse_a_header_injection_and_a_password_that_would_be_ignored_or_in_clear():
    env = {"CS_SMTP_HOST": "smtp.example.test", "CS_SMTP_FROM": "cs@example.test"}
    assert SmtpSettings.from_env({**env, "CS_SMTP_FROM": "PetForce <cs@example.test>\n"})
    for sender in ("cs@example.test\r\nBcc: all@example.test", "cs@example.test\nx", "a\x00b"):
        with pytest.raises(ValueError, match="CS_SMTP_FROM"):
            SmtpSettings.from_env({**env, "CS_SMTP_FROM": sender})
    in_clear = {**env, "CS_SMTP_PASSWORD": "hunter2", "CS_SMTP_STARTTLS": "false"}
    with pytest.raises(ValueError, match="CS_SMTP_PASSWORD needs CS_SMTP_STARTTLS"):
        SmtpSettings.from_env(in_clear)
    with pytest.raises(ValueError, match="CS_SMTP_PASSWORD needs CS_SMTP_USER"):
        SmtpSettings.from_env({**env, "CS_SMTP_PASSWORD": "hunter2"})
    relay = SmtpSettings.from_env({**env, "CS_SMTP_STARTTLS": "false"})
    assert (relay.user, relay.password, relay.starttls) == (None, None, False)
    with pytest.raises(ConfigError, match="CS_SMTP_PORT"):  # as the code location loads
        check_mail_settings({**env, "CS_SMTP_PORT": "99999"})


# --- email against a real SMTP server -------------------------------------------------------


def test_each_due_step_is_sent_once_even_if_dispatch_runs_twice(engine, port):
    steps = [(EMAIL, MARKETING), (EMAIL, "survey_invitation"), (EMAIL_TRANSACTIONAL, TRANSACTIONAL)]
    for household in ("hh_1", "hh_2"):
        schedule(engine, household, steps)
    inbox, clock = Inbox(), Clock()
    channel = EmailChannel(smtp_settings(port), UNSUBSCRIBE, clock)
    with smtp_server(inbox, port):
        first = d.dispatch(engine, "w1", email_sender(channel), clock)
        second = d.dispatch(engine, "w2", email_sender(channel), clock)
    assert first == {d.SENT: 6} and not second
    with engine.connect() as conn:
        expected = set(conn.execute(sa.select(step_executions.c.message_id)).scalars())
    assert sorted(m["Message-ID"] for m in inbox.messages) == sorted(expected)
    by_template = {m["Subject"]: m for m in inbox.messages if m["To"] == address("hh_1")}
    marketing = by_template["We'd love to have you back: " + SAMPLES[MARKETING]["offer"]]
    assert unsubscribe_token("hh_1", SECRET) in marketing["List-Unsubscribe"]
    assert "Hi Zoë," in marketing.get_body(("plain",)).get_content()  # non-ASCII survives SMTP
    assert by_template["Thank you for your review!"]["List-Unsubscribe"] is None
    assert [row.status for row in outbox_rows(engine)] == ["sent"] * 6


def test_smtp_down_keeps_steps_queued_until_it_returns(engine, port):
    schedule(engine, "hh_1", [(EMAIL, MARKETING), (EMAIL_TRANSACTIONAL, TRANSACTIONAL)])
    inbox, clock = Inbox(), Clock()
    channel = EmailChannel(smtp_settings(port), UNSUBSCRIBE, clock)
    assert d.dispatch(engine, "w1", email_sender(channel), clock) == {d.RETRYING: 2}
    assert set(statuses(engine).values()) == {d.RETRYING}
    with smtp_server(inbox, port):
        assert not d.dispatch(engine, "w1", email_sender(channel), clock)  # backoff not over
        clock.at += timedelta(minutes=2)
        assert d.dispatch(engine, "w1", email_sender(channel), clock) == {d.SENT: 2}
        assert not d.dispatch(engine, "w1", email_sender(channel), clock)
    assert len(inbox.messages) == 2
    assert [row.status for row in outbox_rows(engine)] == ["sent", "sent"]


def test_opted_out_household_gets_transactional_email_only(engine, port):
    steps = [
        (EMAIL, MARKETING),
        (EMAIL_TRANSACTIONAL, TRANSACTIONAL),
        (EMAIL_TRANSACTIONAL, "anniversary"),  # marketing on the transactional channel
    ]
    for household in ("hh_unsub", "hh_raw"):
        schedule(engine, household, steps)
    record_opt_out(engine, "hh_unsub", EMAIL, "unsubscribe_link", T0)
    inbox, clock = Inbox(), Clock()
    channel = EmailChannel(smtp_settings(port), UNSUBSCRIBE, clock)
    with smtp_server(inbox, port):
        outcomes = d.dispatch(engine, "w1", email_sender(channel, frozenset({"hh_raw"})), clock)
    assert outcomes == {d.SENT: 2, d.SKIPPED: 4}
    assert sorted((m["To"], m["Subject"]) for m in inbox.messages) == [
        (address("hh_raw"), "Thank you for your review!"),
        (address("hh_unsub"), "Thank you for your review!"),
    ]
    with engine.connect() as conn:
        reasons = set(conn.execute(sa.select(step_executions.c.skipped_reason)).scalars())
    assert reasons == {None, "opted out of email", "opted out of marketing email"}


def test_recipient_refused_for_good_is_skipped_without_its_address(engine, port):
    schedule(engine, "hh_1", [(EMAIL, MARKETING)])
    inbox, clock = Inbox(), Clock()
    inbox.refuse.add(address("hh_1"))
    channel = EmailChannel(smtp_settings(port), UNSUBSCRIBE, clock)
    with smtp_server(inbox, port):
        assert d.dispatch(engine, "w1", email_sender(channel), clock) == {d.SKIPPED: 1}
    with engine.connect() as conn:
        reason = conn.execute(sa.select(step_executions.c.skipped_reason)).scalar_one()
    assert reason.startswith("recipient refused: 550") and "@" not in reason
    assert not inbox.messages
    assert [row.status for row in outbox_rows(engine)] == ["failed"]


@pytest.mark.parametrize("smtp", [True, False], ids=["smtp", "outbox_only"])
def test_recipient_address_that_can_never_work_is_skipped_without_it(engine, port, smtp):
    bad = [address("hh_1") + "\nBcc: all@example.test", address("hh_2") + "\r",
           f"{address('hh_3')}, {address('hh_1')}", "Zoë <hh_4@example.test>", "zoë@example.test",
           "hh_6", ""]
    recipients = {f"hh_{i}": to for i, to in enumerate(bad, 1)}
    for household in recipients:
        schedule(engine, household, [(EMAIL, MARKETING)])
    inbox, clock = Inbox(), Clock()
    channel = EmailChannel(smtp_settings(port) if smtp else None, UNSUBSCRIBE, clock)

    def send(step: d.DueStep, tx: d.Tx) -> None:
        hh = step.household_id
        channel.send(step, Recipient(hh, recipients[hh], "Zoë"), SAMPLES[step.template], tx)

    with smtp_server(inbox, port):
        assert d.dispatch(engine, "w1", send, clock) == {d.SKIPPED: len(bad)}
    with engine.connect() as conn:
        reasons = set(conn.execute(sa.select(step_executions.c.skipped_reason)).scalars())
    assert reasons == {"recipient address is not a valid email address", "no email address"}
    assert not inbox.messages and not outbox_rows(engine)


def test_connection_lost_during_data_is_in_doubt_and_not_resent(engine, port):
    schedule(engine, "hh_1", [(EMAIL, MARKETING)])
    inbox, clock = Inbox(), Clock()
    inbox.stall = 1.5  # the server has the message but its reply never comes in time
    channel = EmailChannel(smtp_settings(port, timeout=0.5), UNSUBSCRIBE, clock)
    with smtp_server(inbox, port):
        assert d.dispatch(engine, "w1", email_sender(channel), clock) == {d.IN_DOUBT: 1}
        clock.at += timedelta(hours=1)
        assert not d.dispatch(engine, "w1", email_sender(channel), clock)
    assert len(inbox.messages) == 1
    assert [step.template for step in d.in_doubt_steps(engine)] == [MARKETING]
    assert [row.status for row in outbox_rows(engine)] == ["queued"]


def test_without_smtp_settings_messages_land_in_the_outbox_only(engine, port):
    schedule(engine, "hh_1", [(EMAIL, MARKETING), (EMAIL_TRANSACTIONAL, TRANSACTIONAL)])
    inbox, clock = Inbox(), Clock()
    channel = EmailChannel.from_env({})
    with smtp_server(inbox, port):
        assert d.dispatch(engine, "w1", email_sender(channel), clock) == {d.SENT: 2}
    assert not inbox.messages
    rows = outbox_rows(engine)
    assert [(r.template, r.status, r.household_id) for r in rows] == [
        (TRANSACTIONAL, "queued", "hh_1"),
        (MARKETING, "queued", "hh_1"),
    ]
    marketing = rows[1].payload
    assert marketing["headers"]["List-Unsubscribe"].startswith("<mailto:unsubscribe@")
    assert "Message-ID" in marketing["headers"] and "To" not in marketing["headers"]
    assert "Hi Zoë," in marketing["text"] and "<p>Hi Zoë,</p>" in marketing["html"]
    with engine.connect() as conn:
        sent = conn.execute(sa.select(step_executions.c.message_id)).scalars().all()
    assert sorted(r.message_id for r in rows) == sorted(sent)


# --- CSM tasks and in-app notifications -----------------------------------------------------


def assign(engine, rows: list[tuple[str, date, str, str]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(csm_assignments),
            [
                dict(household_id=h, as_of=day, csm_id=csm, route=route, assigned_at=T0)
                for h, day, csm, route in rows
            ],
        )


def test_csm_task_goes_to_the_assigned_csm_once(engine):
    for household in ("hh_paid", "hh_free", "hh_new"):
        schedule(engine, household, [(CSM_TASK, "csm_outreach")])
    day = T0.date()
    assign(
        engine,
        [
            ("hh_paid", day - timedelta(days=3), "csm_01", "csm"),
            ("hh_paid", day, "csm_02", "csm"),  # the step's day: the current assignee
            ("hh_paid", day + timedelta(days=1), "csm_09", "csm"),  # after the step: ignored
            ("hh_free", day, "automated_cs", "automated"),
        ],
    )
    channel = CsmTaskChannel(Clock())
    task = Task(
        "Schedule 15-min check-in call",
        day + timedelta(days=2),
        "Negative trends: task_completion",
        "high",
    )

    def send(step, tx):
        channel.send(step, task, tx)
        channel.send(step, task, tx)  # a second write of the same step adds nothing

    assert d.dispatch(engine, "w1", send, Clock()) == {d.SENT: 1, d.SKIPPED: 2}
    with engine.connect() as conn:
        tasks = conn.execute(sa.select(csm_tasks)).all()
        reasons = dict(
            conn.execute(
                sa.select(step_executions.c.step_id, step_executions.c.skipped_reason)
            ).all()
        )
    assert [(t.household_id, t.csm_id, t.priority, t.due_on) for t in tasks] == [
        ("hh_paid", "csm_02", "high", day + timedelta(days=2))
    ]
    assert sorted(filter(None, reasons.values())) == [
        f"no CSM assignment on or before {day}",
        "served by automated CS: no CSM to give the task to",
    ]
    with pytest.raises(ValueError, match="priority"):
        Task("x", day, priority="urgent")


def test_in_app_notification_is_written_once(engine):
    schedule(engine, "hh_1", [(IN_APP, "calendar_sync_prompt")])
    record_opt_out(engine, "hh_1", EMAIL, "raw_flag", T0)  # email consent does not touch in-app
    channel = InAppChannel(Clock())
    note = Notification(
        "Set up Calendar Sync in 2 minutes",
        "Get reminders for vet visits.",
        "Set up now",
        "/settings/calendar",
    )

    def send(step, tx):
        channel.send(step, note, tx)
        channel.send(step, note, tx)

    assert d.dispatch(engine, "w1", send, Clock()) == {d.SENT: 1}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(in_app_notifications)).all()
    assert [(r.household_id, r.title, r.link, r.dismissable) for r in rows] == [
        ("hh_1", note.title, "/settings/calendar", True)
    ]
