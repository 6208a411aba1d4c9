"""Email: Jinja2 templates (plain text and HTML), sent over SMTP and recorded in the outbox.

Settings come from the environment the caller passes (e.g. `os.environ`):

    CS_SMTP_HOST           SMTP server; empty or unset: no server, messages land in the outbox
                           table only (the demo default)
    CS_SMTP_PORT           1 to 65535, default 587
    CS_SMTP_FROM           the From address; required with a host, no CR, LF or other control
                           character
    CS_SMTP_USER           login, when the server wants one (needs STARTTLS)
    CS_SMTP_PASSWORD       the login's password (needs CS_SMTP_USER and STARTTLS); only ever
                           read from the environment
    CS_SMTP_STARTTLS       true (default) or false, e.g. for a relay on localhost
    CS_UNSUBSCRIBE_URL     https page that records an unsubscribe; gets `?token=...`
    CS_UNSUBSCRIBE_MAILTO  mailbox that records one; the subject carries the token
    CS_UNSUBSCRIBE_SECRET  key of the unsubscribe tokens (HMAC-SHA256)

Sending over SMTP needs the secret and an unsubscribe URL or mailbox: marketing email without
a working unsubscribe is never sent. Without a host, placeholders under `.invalid` fill in
what is missing, since nothing leaves the machine.

Consent: marketing email to a household that opted out anywhere (the raw `email_opt_out`
flag, or an opt-out the platform recorded) is skipped. Transactional templates (a credit or
free period granted) are the only exception; their steps use the EMAIL_TRANSACTIONAL channel
so the dispatcher's opt-out check for EMAIL does not hold them back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import NamedTuple, NoReturn
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from cs_assets.contract.product import PRODUCT
from cs_assets.state.delivery import (
    TRANSACTIONAL_CHANNELS,
    DueStep,
    OutcomeUnknown,
    SkipStep,
    Tx,
)
from cs_assets.state.schema import OUTBOX_STATUSES, outbox
from cs_assets.state.store import insert_ignoring_duplicates, opted_out, record_opt_out
from cs_assets.templating import environment
from cs_assets.vocabulary import utc_now

EMAIL = "email"
OPTED_OUT = "email_opted_out"  # a batch's memo key: its households that refused email
(EMAIL_TRANSACTIONAL,) = TRANSACTIONAL_CHANNELS
UNSUBSCRIBE_SOURCE = "unsubscribe_link"
# Account notices: the household was granted a credit or a free period (the spec's reward
# notifications). Everything else is marketing and needs consent and an unsubscribe.
TRANSACTIONAL_TEMPLATES = frozenset(
    {
        "referral_leaderboard_reward",
        "referral_success_referee",
        "referral_success_referrer",
        "review_thank_you",
    }
)
QUEUED, SENT, FAILED = OUTBOX_STATUSES
TEMPLATES = Path(__file__).with_name("templates")
OUTBOX_SENDER = "customer-success@cs-assets.invalid"
OUTBOX_MAILTO = "unsubscribe@cs-assets.invalid"
OUTBOX_SECRET = b"outbox-only: nothing is sent"
# A bare ASCII addr-spec: what RCPT TO (smtplib speaks ASCII, no SMTPUTF8) and a one-address
# To header can carry. No display name, no list, no whitespace or CR / LF (header injection).
ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_jinja = environment(TEMPLATES)
_jinja.globals.update(product=PRODUCT.name, voice=PRODUCT.voice,
                      upgrade_plan=PRODUCT.upgrade_plan)


class Rendered(NamedTuple):
    subject: str
    text: str
    html: str


def template_names() -> frozenset[str]:
    """Templates a step may name (`<name>.txt.j2` and `<name>.html.j2`; `_` marks layouts)."""
    return frozenset(
        path.name.removesuffix(".txt.j2")
        for path in TEMPLATES.glob("*.txt.j2")
        if not path.name.startswith("_")
    )


def render(template: str, context: Mapping[str, object]) -> Rendered:
    """Subject (the text template's `subject` block, on one line), plain text and HTML.

    A variable missing from `context` is an error, not an empty string: a half-filled email
    must not go out."""
    text = _jinja.get_template(f"{template}.txt.j2")
    subject = "".join(text.blocks["subject"](text.new_context(dict(context))))
    return Rendered(
        " ".join(subject.split()),
        text.render(context),
        _jinja.get_template(f"{template}.html.j2").render(context),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(household_id: str, secret: bytes) -> bytes:
    return hmac.new(secret, b"unsubscribe:" + household_id.encode(), hashlib.sha256).digest()[:16]


def unsubscribe_token(household_id: str, secret: bytes) -> str:
    """`<household id>.<HMAC>`, URL-safe: names the household, never its address, and cannot
    be made for another household without the secret."""
    return f"{_b64(household_id.encode())}.{_b64(_mac(household_id, secret))}"


def household_from_token(token: str, secret: bytes) -> str | None:
    """The household a token was made for; None when `secret` did not make it."""
    try:
        encoded, mac = token.strip().split(".")
        household_id = _unb64(encoded).decode()
        given = _unb64(mac)
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        return None
    return household_id if hmac.compare_digest(given, _mac(household_id, secret)) else None


def record_unsubscribe(engine: sa.Engine, household_id: str, at: datetime) -> None:
    """Opt the household out of marketing email: the link, the mailbox or the CLI land here.

    Callers holding a token resolve it with `household_from_token` first."""
    record_opt_out(engine, household_id, EMAIL, UNSUBSCRIBE_SOURCE, at)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 30.0  # seconds per socket operation

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"CS_SMTP_PORT must be between 1 and 65535, got {self.port}")
        if CONTROL.search(self.sender):
            raise ValueError("CS_SMTP_FROM must not contain control characters such as CR or LF")
        if self.user and not self.starttls:
            raise ValueError("CS_SMTP_USER needs CS_SMTP_STARTTLS: the password would go in clear")
        if self.password and not self.starttls:
            raise ValueError(
                "CS_SMTP_PASSWORD needs CS_SMTP_STARTTLS: the password would go in clear"
            )
        if self.password and not self.user:
            raise ValueError("CS_SMTP_PASSWORD needs CS_SMTP_USER: without it nobody logs in")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings | None:
        """None without CS_SMTP_HOST: messages land in the outbox table only."""
        host = env.get("CS_SMTP_HOST", "").strip()
        if not host:
            return None
        sender = env.get("CS_SMTP_FROM", "").strip()
        if not sender:
            raise ValueError("CS_SMTP_FROM is required with CS_SMTP_HOST")
        port = env.get("CS_SMTP_PORT", "").strip() or "587"
        if not (port.isascii() and port.isdigit()):
            raise ValueError(f"CS_SMTP_PORT must be a port number, got {port!r}")
        return cls(
            host=host,
            sender=sender,
            port=int(port),
            user=env.get("CS_SMTP_USER", "").strip() or None,
            password=env.get("CS_SMTP_PASSWORD") or None,
            starttls=_flag(env, "CS_SMTP_STARTTLS", default=True),
        )


@dataclass(frozen=True)
class UnsubscribeSettings:
    secret: bytes = field(repr=False)
    url: str | None = None
    mailto: str | None = None  # the mailbox's address

    def __post_init__(self) -> None:
        if not self.secret or not (self.url or self.mailto):
            raise ValueError("unsubscribe needs a secret and a URL or a mailbox")
        if self.url and urlsplit(self.url).scheme != "https":
            raise ValueError("CS_UNSUBSCRIBE_URL must be https (one-click unsubscribe, RFC 8058)")

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, sending: bool) -> UnsubscribeSettings:
        """`sending`: SMTP is configured, so every value must be real."""
        secret = env.get("CS_UNSUBSCRIBE_SECRET", "").encode()
        url = env.get("CS_UNSUBSCRIBE_URL", "").strip() or None
        mailto = env.get("CS_UNSUBSCRIBE_MAILTO", "").strip() or None
        if sending and not (secret and (url or mailto)):
            raise ValueError(
                "sending email needs CS_UNSUBSCRIBE_SECRET and CS_UNSUBSCRIBE_URL or "
                "CS_UNSUBSCRIBE_MAILTO"
            )
        if not (url or mailto):
            mailto = OUTBOX_MAILTO
        return cls(secret or OUTBOX_SECRET, url, mailto)

    def links(self, household_id: str) -> tuple[str | None, str | None]:
        """The household's one-click URL and mailto URI (None where not configured)."""
        token = unsubscribe_token(household_id, self.secret)
        url = mailto = None
        if self.url:
            parts = urlsplit(self.url)
            query = urlencode([*parse_qsl(parts.query), ("token", token)])
            url = urlunsplit(parts._replace(query=query))
        if self.mailto:
            mailto = f"mailto:{self.mailto}?subject={quote(f'unsubscribe {token}')}"
        return url, mailto


@dataclass(frozen=True)
class Composed:
    """One step's email before it is a MIME message: what the outbox keeps (no recipient
    address) and what `to_message` turns into bytes for the server."""

    headers: dict[str, str]
    text: str
    html: str

    @property
    def payload(self) -> dict[str, object]:
        return {"headers": dict(self.headers), "text": self.text, "html": self.html}


def compose(
    *,
    message_id: str,
    sender: str,
    template: str,
    context: Mapping[str, object],
    date: datetime,
    unsubscribe_url: str | None = None,
    unsubscribe_mailto: str | None = None,
) -> Composed:
    """One step's email. A marketing template needs this household's unsubscribe URL or
    mailto URI: both go in List-Unsubscribe (one-click when there is a URL, RFC 8058) and the
    first of URL, mailto is linked from both bodies. Transactional templates carry neither."""
    context = dict(context)
    unsubscribe = [link for link in (unsubscribe_mailto, unsubscribe_url) if link]
    marketing = template not in TRANSACTIONAL_TEMPLATES
    if marketing:
        if not unsubscribe:
            raise ValueError(f"marketing template {template!r} needs an unsubscribe link")
        context["unsubscribe_link"] = unsubscribe_url or unsubscribe_mailto
    subject, text, html = render(template, context)
    headers = {"From": sender, "Subject": subject, "Date": format_datetime(date),
               "Message-ID": message_id}
    if marketing:
        headers["List-Unsubscribe"] = ", ".join(f"<{link}>" for link in unsubscribe)
        if unsubscribe_url:
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return Composed(headers, text, html)


def to_message(composed: Composed, to_address: str) -> EmailMessage:
    """The MIME message for the server: text and HTML alternatives. Built only to send:
    the email package's header parsing is most of the cost of composing a message."""
    msg = EmailMessage()
    msg["From"] = composed.headers["From"]
    msg["To"] = to_address
    for name, value in composed.headers.items():
        if name != "From":
            msg[name] = value
    msg.set_content(composed.text)
    msg.add_alternative(composed.html, subtype="html")
    return msg


@dataclass(frozen=True)
class Recipient:
    """Where a household's email goes; repr hides address and name to keep them out of logs."""

    household_id: str
    address: str = field(repr=False)
    display_name: str | None = field(default=None, repr=False)  # the greeting's name
    opted_out: bool = False  # the raw households.email_opt_out flag


class EmailChannel:
    """Sends steps' emails for `dispatch`, recording each in the outbox: one row per
    Message-ID, queued, then sent or failed (refused for good). It stays queued while the
    step retries, when the step is in_doubt, and in outbox-only mode."""

    def __init__(
        self,
        smtp: SmtpSettings | None,
        unsubscribe: UnsubscribeSettings,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.smtp, self.unsubscribe, self.now = smtp, unsubscribe, now
        self.sender = smtp.sender if smtp else OUTBOX_SENDER

    @classmethod
    def from_env(cls, env: Mapping[str, str],
                 now: Callable[[], datetime] = utc_now) -> EmailChannel:
        smtp = SmtpSettings.from_env(env)
        return cls(smtp, UnsubscribeSettings.from_env(env, sending=smtp is not None), now)

    def send(self, step: DueStep, recipient: Recipient, context: Mapping[str, object],
             tx: Tx) -> None:
        """Send one step (raises what `dispatch` maps): SkipStep when the household refused
        marketing email, the address can never work or the server refused for good;
        OutcomeUnknown when the connection was lost during DATA; anything else when it
        certainly did not go out. The outbox row is written in the batch's transaction and
        committed by `tx.handoff` before the server sees the message. Skip reasons never
        quote the address. A marketing template is refused to an opted-out household even
        on the transactional channel (the opt-outs looked up once per batch)."""
        if recipient.household_id != step.household_id:
            raise ValueError(f"step {step.step_id} is for another household")
        if step.template not in TRANSACTIONAL_TEMPLATES and (
            recipient.opted_out or step.household_id in tx.once(OPTED_OUT, lambda: opted_out(
                tx.conn, EMAIL, {s.household_id for s in tx.batch}))
        ):
            raise SkipStep("opted out of marketing email")
        if not recipient.address:
            raise SkipStep("no email address")
        if not ADDRESS.fullmatch(recipient.address):
            raise SkipStep("recipient address is not a valid email address")
        url, mailto = self.unsubscribe.links(step.household_id)
        composed = compose(
            message_id=step.message_id,
            sender=self.sender,
            template=step.template,
            context={"greeting_name": recipient.display_name, **context},
            date=self.now(),
            unsubscribe_url=url,
            unsubscribe_mailto=mailto,
        )
        self._record(tx.conn, step, composed)
        if self.smtp is None:
            return
        msg = to_message(composed, recipient.address)
        tx.handoff(step)
        try:
            _transmit(self.smtp, msg, recipient.address)
        except SkipStep:
            self._set_status(tx.conn, step.message_id, FAILED)
            raise
        try:
            self._set_status(tx.conn, step.message_id, SENT)
        except sa.exc.SQLAlchemyError as exc:
            # Any other exception would be read as "not sent" and retried: a second email.
            raise OutcomeUnknown("sent, but the outbox could not record it") from exc

    def _record(self, conn: sa.Connection, step: DueStep, composed: Composed) -> None:
        payload = composed.payload
        row = dict(
            message_id=step.message_id,
            channel=step.channel,
            household_id=step.household_id,
            template=step.template,
            payload=payload,
            created_at=self.now(),
            status=QUEUED,
        )
        insert_ignoring_duplicates(conn, outbox, [row], ["message_id"])

    @staticmethod
    def _set_status(conn: sa.Connection, message_id: str, status: str) -> None:
        conn.execute(
            sa.update(outbox).where(outbox.c.message_id == message_id).values(status=status)
        )


def _redact(reply: bytes | str) -> str:
    """A server reply without the addresses servers like to echo."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return re.sub(r"[^\s<>]+@[^\s<>]+", "<address>", text)


def _refused(code: int, reply: bytes | str, what: str) -> NoReturn:
    reason = f"{what} refused: {code} {_redact(reply)}"
    if 500 <= code < 600:
        raise SkipStep(f"{reason} (permanent)")
    raise smtplib.SMTPResponseException(code, reason)


def _transmit(settings: SmtpSettings, msg: EmailMessage, to_address: str) -> None:
    """Hand `msg` to the server for one recipient. Errors before DATA mean it was not sent
    and propagate (retried); a permanent refusal of the recipient or the message is SkipStep;
    anything going wrong during DATA other than a refusal may have delivered it
    (OutcomeUnknown). A failing QUIT after the server accepted the message is ignored."""
    server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.starttls:
            server.starttls(context=ssl.create_default_context())
        if settings.user:
            server.login(settings.user, settings.password or "")
        server.ehlo_or_helo_if_needed()
        code, reply = server.mail(settings.sender)
        if code != 250:
            raise smtplib.SMTPResponseException(code, f"sender refused: {_redact(reply)}")
        code, reply = server.rcpt(to_address)
        if code not in (250, 251):
            _refused(code, reply, "recipient")
        try:
            server.data(msg.as_bytes(policy=SMTP_POLICY))
        except smtplib.SMTPDataError as exc:
            _refused(exc.smtp_code, exc.smtp_error, "message")
        except Exception as exc:
            raise OutcomeUnknown(f"connection lost during DATA: {exc!r}") from exc
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            server.quit()
        server.close()
