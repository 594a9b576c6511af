"""Admin authentication: one argon2id-hashed password, expiring revocable tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
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


class _Client:
    """One client's failed logins in the window and its password checks running now."""

    __slots__ = ("failures", "running")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.running = 0


class LoginRateLimiter:
    """At most ``max_failures`` login attempts per client per ``window`` seconds are
    evaluated, counting the ones still running.

    ``acquire`` takes a slot *before* the (slow, argon2) password check and refuses with
    429 when failures in the window plus checks in flight reach the limit; ``failed``
    turns the slot into a failure, ``succeeded`` clears the client. So a burst of
    parallel attempts cannot all be checked before the first failure is counted.
    """

    def __init__(self, max_failures: int, window: float, max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> None:
        """Take a slot for one password check, or raise ``TooManyRequests``."""
        now = time.monotonic()
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                if len(self._clients) >= self.max_clients:
                    self._prune(now)
                state = self._clients[client] = _Client()
            self._expire(state, now)
            if len(state.failures) + state.running >= self.max_failures:
                retry = self._retry_after(state, now)
                raise TooManyRequests(
                    f"too many failed logins; try again in {retry} s", retry_after=retry
                )
            state.running += 1

    def failed(self, client: str) -> None:
        """The check of an acquired slot failed: it counts for ``window`` seconds."""
        with self._lock:
            state = self._clients.setdefault(client, _Client())
            state.running = max(0, state.running - 1)
            state.failures.append(time.monotonic())

    def succeeded(self, client: str) -> None:
        """The right password: the client's failures are forgotten."""
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                return
            state.failures.clear()
            state.running = max(0, state.running - 1)
            if not state.running:
                del self._clients[client]

    def _retry_after(self, state: _Client, now: float) -> int:
        """Whole seconds until a slot frees: the oldest failure ages out, or (when checks
        in flight hold the slots) about when they finish."""
        if len(state.failures) < self.max_failures:
            return 1
        return max(1, math.ceil(min(self.window, state.failures[0] + self.window - now)))

    def _expire(self, state: _Client, now: float) -> None:
        while state.failures and state.failures[0] <= now - self.window:
            state.failures.popleft()

    def _prune(self, now: float) -> None:
        """Forget idle clients; one with a check running is never forgotten."""
        for client, state in list(self._clients.items()):
            self._expire(state, now)
            if not state.failures and not state.running:
                del self._clients[client]
        idle = [c for c, s in self._clients.items() if not s.running]
        if len(self._clients) >= self.max_clients and idle:  # still full: the oldest
            del self._clients[min(idle, key=lambda c: self._clients[c].failures[-1])]


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
        """A token for the right password. The limiter's slot is taken before the check
        and given back after it, whatever happens (an error counts as a failure)."""
        self.limiter.acquire(client)
        ok = False
        try:
            ok = self._verify(password)
        finally:
            (self.limiter.succeeded if ok else self.limiter.failed)(client)
        if not ok:
            log.warning("failed admin login from %s", client)
            raise Unauthorized("wrong password", field="password")
        session_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)  # 256 bits
        self.store.add_session(session_id, _digest(secret), self.settings.token_ttl_seconds)
        return f"{TOKEN_PREFIX}.{session_id}.{secret}"

    def _verify(self, password: str) -> bool:
        stored = self._password_hash()
        try:
            return stored is not None and self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

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
