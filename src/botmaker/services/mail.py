"""Alert emails: settings, the message, and sending it with the standard library.

The SMTP password is a secret: it is never in these settings (nor the database). It
is read from the file ``BOTMAKER_SMTP_PASSWORD_FILE`` names each time a message is
sent, so a rotated password needs no restart.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: One address, without a display name; no spaces, brackets or line breaks (headers).
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$|^\[?[0-9A-Fa-f:.]+\]?$"
)
MAX_RECIPIENTS = 20

#: How an alert's kind reads in a subject line.
TITLES = {
    "died": "died",
    "oom": "out of memory",
    "unhealthy": "unhealthy",
    "crash_loop": "crash loop",
    "channel_down": "channel down",
    "channel_up": "channel back up",
    "budget_exceeded": "budget exceeded",
    "test": "test alert",
}


class EmailSettings(BaseModel):
    """Where alert emails go and how to reach the SMTP server (no password: a file)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    from_address: str = Field(min_length=3, max_length=254)
    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    username: str | None = Field(default=None, max_length=254)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not _HOST.fullmatch(value):
            raise ValueError("must be a host name or an IP address")
        return value

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        addresses = [_address(item) for item in value]
        return list(dict.fromkeys(addresses))  # each once, in order

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if any(c in value for c in "\r\n\0"):
            raise ValueError("must be one line")
        return value.strip()


def _address(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _ADDRESS.fullmatch(value):
        raise ValueError(f"not an email address: {value[:60]!r}")
    return value


class MailError(Exception):
    """Sending failed; the message is safe to log and show (never the password)."""


def read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise MailError(f"cannot read BOTMAKER_SMTP_PASSWORD_FILE: {exc.strerror}") from None


def build_message(config: EmailSettings, payload: dict[str, Any]) -> EmailMessage:
    """The plain-text alert email for a payload as the webhook gets it."""
    kind = str(payload.get("kind", ""))
    bot = payload.get("bot") or {}
    who = bot.get("name") or bot.get("id")
    title = TITLES.get(kind, kind.replace("_", " "))
    message = EmailMessage()
    message["Subject"] = f"[BotMaker] {title}: {who}" if who else f"[BotMaker] {title}"
    message["From"] = config.from_address
    message["To"] = ", ".join(config.to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2])
    lines = [f"Event:  {title}"]
    if who:
        lines.append(f"Bot:    {bot.get('name') or '-'} (id {bot.get('id') or '-'})")
    lines.append(f"At:     {payload.get('at', '')}")
    if payload.get("detail"):
        lines.append(f"Detail: {payload['detail']}")
    if payload.get("exit_code") is not None:
        lines.append(f"Exit code: {payload['exit_code']}")
    if payload.get("restarts") is not None:
        lines.append(f"Restarts: {payload['restarts']}")
    if payload.get("logs_tail"):
        lines += ["", "Last log lines:", str(payload["logs_tail"])]
    lines += ["", "-- ", "BotMaker alerts: change them on the Diagnostics page."]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(
    config: EmailSettings, message: EmailMessage, password: str | None, timeout: float
) -> None:
    """Deliver ``message`` to the SMTP server; ``MailError`` says why not."""
    if config.username and password is None:
        raise MailError("a username is set but BOTMAKER_SMTP_PASSWORD_FILE is not")
    try:
        smtp: smtplib.SMTP
        if config.security == "ssl":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username and password is not None:
                smtp.login(config.username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise MailError(f"the SMTP server answered {exc.smtp_code} {reply[:200]}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(
            f"the SMTP server refused the recipients {sorted(exc.recipients)}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"the SMTP server does not support this: {exc}") from None
    except smtplib.SMTPException as exc:
        raise MailError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS failed: {exc.reason or type(exc).__name__}") from None
    except OSError as exc:
        raise MailError(
            f"cannot reach {config.host}:{config.port}: {exc.strerror or type(exc).__name__}"
        ) from None
