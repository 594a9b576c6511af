"""A real SMTP server on loopback (aiosmtpd) that keeps the messages it is sent.

With ``login``/``password`` it offers AUTH (PLAIN and LOGIN) without TLS
(``auth_require_tls=False``: loopback only) and refuses mail from a session that did
not authenticate; every AUTH attempt is recorded.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpReceiver:
    """Use as a context manager; ``messages`` are the parsed emails, ``envelopes`` their
    envelope senders and recipients."""

    def __init__(self, login: str | None = None, password: str | None = None) -> None:
        self.login = login
        self.password = password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_attempts: list[tuple[str, bool]] = []  # (login, accepted)
        self._lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = 0
        self._controller: Controller | None = None

    # -- aiosmtpd handler hooks ------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.login is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode()
        ok = login == self.login and data.password.decode() == self.password
        with self._lock:
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False)

    # -- use -------------------------------------------------------------------------

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)

    def __enter__(self) -> SmtpReceiver:
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        problem: Exception | None = None
        for _ in range(5):  # a free port may be taken between probe and bind: try another
            self.port = _free_port()
            controller = Controller(self, hostname=self.host, port=self.port, **kwargs)
            try:
                controller.start()
            except Exception as exc:
                problem = exc
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"the SMTP receiver did not start: {problem!r}")

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
