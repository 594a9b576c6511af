"""Admin authentication: one argon2id-hashed password, expiring revocable tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from botmaker.config import Settings
from botmaker.errors import TooManyRequests, Unauthorized
from botmaker.store import Store

log = logging.getLogger(__name__)

PASSWORD_HASH_KEY = "admin_password_hash"  # noqa: S105 - a settings key
TOKEN_PREFIX = "bm1"  # noqa: S105 - a format marker


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class LoginRateLimiter:
    """At most ``max_failures`` failed logins per client per ``window`` seconds."""

    def __init__(self, max_failures: int, window: float, max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(client)
            if not failures:
                return
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if len(failures) >= self.max_failures:
                retry = max(1, int(failures[0] + self.window - now) + 1)
                raise TooManyRequests(
                    f"too many failed logins; try again in {retry} s", retry_after=retry
                )

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                self._prune(now)
            self._failures.setdefault(client, deque(maxlen=self.max_failures)).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _prune(self, now: float) -> None:
        stale = [c for c, f in self._failures.items() if not f or f[-1] <= now - self.window]
        for client in stale:
            del self._failures[client]
        if len(self._failures) >= self.max_clients:  # still full: forget the oldest
            oldest = min(self._failures, key=lambda c: self._failures[c][-1])
            del self._failures[oldest]


class AuthService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.hasher = PasswordHasher()  # argon2id
        self.limiter = LoginRateLimiter(settings.login_max_failures, settings.login_window_seconds)
        self._configured_hash: str | None = None

    def ensure_password(self) -> str | None:
        """Make sure a password exists. Returns a newly generated one (show it once)."""
        if self.settings.admin_password is not None:
            self._configured_hash = self.hasher.hash(self.settings.admin_password.reveal())
            return None
        if self.store.get_setting(PASSWORD_HASH_KEY) is not None:
            return None
        password = secrets.token_urlsafe(18)  # 144 bits
        if self.store.set_setting(
            PASSWORD_HASH_KEY, self.hasher.hash(password), only_if_absent=True
        ):
            return password
        return None  # another process stored one first

    def set_password(self, password: str) -> None:
        self.store.set_setting(PASSWORD_HASH_KEY, self.hasher.hash(password))

    def _password_hash(self) -> str | None:
        return self._configured_hash or self.store.get_setting(PASSWORD_HASH_KEY)

    def login(self, password: str, client: str) -> str:
        self.limiter.check(client)
        stored = self._password_hash()
        try:
            ok = stored is not None and self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            self.limiter.failed(client)
            log.warning("failed admin login from %s", client)
            raise Unauthorized("wrong password", field="password")
        self.limiter.succeeded(client)
        session_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)  # 256 bits
        self.store.add_session(session_id, _digest(secret), self.settings.token_ttl_seconds)
        return f"{TOKEN_PREFIX}.{session_id}.{secret}"

    def authenticate(self, token: str | None) -> str:
        """Return the session id of a valid token, or raise ``Unauthorized``."""
        parsed = _parse(token)
        if parsed is None:
            raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
        session_id, secret = parsed
        session = self.store.get_session(session_id)
        # Compare digests in constant time; unknown ids still pay for one comparison.
        expected = session.secret_hash if session else _digest("")
        valid = hmac.compare_digest(expected, _digest(secret)) and session is not None
        if not valid or session is None:
            raise Unauthorized("invalid or revoked token")
        if session.expires_at <= time.time():
            self.store.delete_session(session_id)
            raise Unauthorized("token expired; log in again")
        return session_id

    def logout(self, token: str | None) -> None:
        parsed = _parse(token)
        if parsed is not None:
            self.store.delete_session(parsed[0])


def _parse(token: str | None) -> tuple[str, str] | None:
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
