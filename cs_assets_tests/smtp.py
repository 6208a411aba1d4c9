"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that keeps what it accepted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler: keeps what it accepted; refuses listed recipients with 550; can stall
    after receiving the data, as a server whose reply never arrives (`stall` seconds for every
    message, or `stall_once` for the next one only)."""

    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: set[str] = set()
        self.stall = 0.0
        self.stall_once = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        delay, self.stall_once = self.stall + self.stall_once, 0.0
        await asyncio.sleep(delay)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(inbox: Inbox, port: int) -> Iterator[None]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()
