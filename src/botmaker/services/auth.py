"""Who is calling: users' argon2id passwords, expiring revocable sessions, API tokens.

A session token is ``bm1.<id>.<secret>`` (dashboard cookie or Bearer); an API token is
``bm_<id>_<secret>``. Only a SHA-256 of either secret is stored: both are 256-bit
random, so a fast hash is enough and a stolen database holds nothing to replay.
``authenticate`` turns either into a :class:`~botmaker.policy.Principal`; what that
principal may do is decided by :mod:`botmaker.policy` alone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import deque
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from botmaker.config import Settings
from botmaker.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from botmaker.policy import SCOPES, Principal, Role, can_grant_scopes
from botmaker.store import Store
from botmaker.store.records import TokenRecord, UserRecord

log = logging.getLogger(__name__)

TOKEN_PREFIX = "bm1"  # noqa: S105 - a format marker
API_TOKEN_PREFIX = "bm_"  # noqa: S105 - a format marker
#: The first admin's name: the one BOTMAKER_ADMIN_PASSWORD[_FILE] sets.
FIRST_ADMIN = "admin"


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
        self.accounts = store.accounts
        self.hasher = PasswordHasher()  # argon2id
        self.limiter = LoginRateLimiter(settings.login_max_failures, settings.login_window_seconds)
        # The first admin's password from the environment, once ensure_password took it;
        # hashed (like the dummy below) at its first use, not at every start: each is a
        # full argon2 run (~0.15 s of two cores here).
        self._configured = False
        self._configured_hash: str | None = None
        self._dummy_hash: str | None = None

    def ensure_password(self) -> str | None:
        """Make sure the first admin exists. Returns a newly generated password (show it
        once). With BOTMAKER_ADMIN_PASSWORD[_FILE] that password is the first admin's and
        is never stored; without it, a stored hash is kept, else one is generated."""
        self._configured = self.settings.admin_password is not None
        admin = self.accounts.user_by_name(FIRST_ADMIN)
        if admin is not None and (admin.password_hash or self._configured):
            return None
        password = None if self._configured else secrets.token_urlsafe(18)  # 144 bits
        stored = self.hasher.hash(password) if password else None
        if admin is not None:  # configured before, not now: a password of its own
            self.accounts.update_user(admin.id, password_hash=stored)
            return password
        try:
            self.accounts.add_user(
                user_id=secrets.token_hex(6), name=FIRST_ADMIN, role="admin", password_hash=stored
            )
        except Conflict:
            return None  # another process made it first
        return password

    def set_password(self, password: str, user: str = FIRST_ADMIN) -> None:
        record = self.accounts.find_user(user)
        self.accounts.update_user(record.id, password_hash=self.hasher.hash(password))

    def login(self, password: str, client: str, user: str = FIRST_ADMIN) -> str:
        """A session token for the right user and password. The limiter's slot is taken
        before the check and given back after it, whatever happens (an error counts as
        a failure). An unknown or disabled user costs the same argon2 check."""
        self.limiter.acquire(client)
        ok = False
        record: UserRecord | None = None
        try:
            record = self.accounts.user_by_name(user)
            ok = self._verify(record, password) and record is not None and not record.disabled
        finally:
            (self.limiter.succeeded if ok else self.limiter.failed)(client)
        if not ok or record is None:
            log.warning("failed login for %r from %s", user[:64], client)
            raise Unauthorized("wrong user name or password", field="password")
        return self.open_session(record.id)

    def open_session(self, user_id: str) -> str:
        """A new session for a user who has proved who they are (password, passkey or
        single sign-on); their last sign-in is now."""
        self.accounts.update_user(user_id, last_login_at=time.time())
        session_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)  # 256 bits
        self.store.add_session(
            session_id, _digest(secret), self.settings.token_ttl_seconds, user_id=user_id
        )
        return f"{TOKEN_PREFIX}.{session_id}.{secret}"

    def _verify(self, record: UserRecord | None, password: str) -> bool:
        stored = record.password_hash if record is not None else None
        if record is not None and record.name == FIRST_ADMIN and self._configured:
            stored = self._configured_hash
            if stored is None and self.settings.admin_password is not None:
                stored = self._configured_hash = self.hasher.hash(
                    self.settings.admin_password.reveal()
                )
        try:
            if stored is None:
                # Verified against when the user is unknown: the same argon2 cost.
                if self._dummy_hash is None:
                    self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(12))
                self.hasher.verify(self._dummy_hash, password + "\0")
                return False
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def check_password(self, user_id: str, password: str) -> bool:
        """Whether ``password`` is the user's (a password change asks for it)."""
        return self._verify(self.accounts.get_user(user_id), password)

    def authenticate(self, token: str | None) -> Principal:
        """The principal a session or API token stands for, or raise ``Unauthorized``."""
        if token and token.startswith(API_TOKEN_PREFIX):
            return self._authenticate_api_token(token)
        parsed = _parse(token)
        if parsed is None:
            raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
        session_id, secret = parsed
        session = self.store.get_session(session_id)
        # Compare digests in constant time; unknown ids still pay for one comparison.
        expected = session.secret_hash if session else _digest("")
        valid = hmac.compare_digest(expected, _digest(secret)) and session is not None
        if not valid or session is None or session.user_id is None:
            raise Unauthorized("invalid or revoked token")
        if session.expires_at <= time.time():
            self.store.delete_session(session_id)
            raise Unauthorized("token expired; log in again")
        return self.principal(session.user_id, session_id=session_id)

    def _authenticate_api_token(self, token: str) -> Principal:
        parsed = _parse_api_token(token)
        record = None
        if parsed is not None:
            try:
                record = self.accounts.get_token(parsed[0])
            except NotFound:
                record = None
        expected = record.secret_hash if record else _digest("")
        secret = parsed[1] if parsed else ""
        if not hmac.compare_digest(expected, _digest(secret)) or record is None:
            raise Unauthorized("invalid or revoked token")
        now = time.time()
        if record.revoked_at is not None:
            raise Unauthorized("this API token was revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthorized("this API token expired")
        if record.last_used_at is None or now - record.last_used_at > 60:
            self.accounts.token_used(record.id, now)  # to the minute: one write a minute
        return self.principal(
            record.user_id,
            token_id=record.id,
            scopes=frozenset(record.scopes),
            token_bots=None if record.bots is None else frozenset(record.bots),
        )

    def principal(self, user_id: str, **more: Any) -> Principal:
        try:
            user = self.accounts.get_user(user_id)
        except NotFound:
            raise Unauthorized("invalid or revoked token") from None
        if user.disabled:
            raise Unauthorized("this user is disabled")
        return Principal(
            user_id=user.id,
            name=user.name,
            role=Role(user.role),
            teams=self.accounts.teams_of(user.id),
            granted=self.accounts.grants_of(user.id),
            must_change_password=user.must_change_password,
            **more,
        )

    def logout(self, token: str | None) -> None:
        parsed = _parse(token)
        if parsed is not None:
            self.store.delete_session(parsed[0])

    # -- API tokens -------------------------------------------------------------------

    def create_token(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: frozenset[str],
        bots: frozenset[str] | None,
        expires_in: int | None,
    ) -> tuple[TokenRecord, str]:
        """A new API token of the principal's user; never more than that user may do.
        Returns the record and the token, which is shown this once."""
        unknown = sorted(scopes - SCOPES)
        if unknown:
            raise InvalidInput(
                f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}",
                field="scopes",
            )
        if not scopes:
            raise InvalidInput("give at least one scope", field="scopes")
        beyond = can_grant_scopes(principal, scopes)
        if beyond:
            raise Forbidden(
                f"a {principal.role} cannot give a token {', '.join(sorted(beyond))}",
            )
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = self.accounts.add_token(
            token_id=token_id,
            user_id=principal.user_id,
            name=name,
            secret_hash=_digest(secret),
            scopes=scopes,
            bots=bots,
            expires_at=None if expires_in is None else time.time() + expires_in,
        )
        return record, f"{API_TOKEN_PREFIX}{token_id}_{secret}"


def _parse_api_token(token: str) -> tuple[str, str] | None:
    if len(token) > 200:
        return None
    token_id, sep, secret = token[len(API_TOKEN_PREFIX) :].partition("_")
    if not sep or not token_id or not secret or not token_id.isalnum():
        return None
    return token_id, secret


def _parse(token: str | None) -> tuple[str, str] | None:
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
