"""Single sign-on with an OpenID Connect provider: authorization code flow with PKCE.

``begin`` sends the browser to the provider with a fresh ``state``, ``nonce`` and PKCE
verifier (S256), kept here for ten minutes and bound to the browser by a cookie;
``finish`` takes the code back, exchanges it at the token endpoint (client secret,
verifier) and checks the ID token with joserfc against the provider's JWKS: signature,
``iss``, ``aud``, ``exp``, ``nonce``. An unknown key id fetches the JWKS again (the
provider rotated its keys). The claims then make the user:
found by the provider's ``sub`` (else created, ``source = oidc``), their role from
``BOTMAKER_OIDC_ROLES`` (first group that maps; else the default role; else refused)
and their teams from the groups that name a team — both set again at every sign-in,
so the provider stays the source of truth for its users.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from botmaker.config import Settings
from botmaker.errors import BadRequest, Forbidden, RuntimeFailure, Unauthorized
from botmaker.services.auth import AuthService
from botmaker.store import Store
from botmaker.store.records import UserRecord

log = logging.getLogger(__name__)

#: Seconds a sign-in may take at the provider.
PENDING_SECONDS = 600
#: Seconds the provider's metadata is kept; and the least time between JWKS fetches.
METADATA_SECONDS = 3600
JWKS_REFETCH_SECONDS = 1.0
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.@-]")


@dataclass(frozen=True)
class Pending:
    nonce: str
    verifier: str
    redirect_uri: str
    next_url: str
    expires: float


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class SingleSignOn:
    def __init__(self, settings: Settings, store: Store, auth: AuthService) -> None:
        self.settings = settings
        self.store = store
        self.accounts = store.accounts
        self.auth = auth
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self.http = httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.oidc_issuer)

    def close(self) -> None:
        self.http.close()

    # -- the provider ---------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._metadata is not None and self._metadata[0] > now:
            return self._metadata[1]
        issuer = str(self.settings.oidc_issuer).rstrip("/")
        document = self._get_json(f"{issuer}/.well-known/openid-configuration")
        if document.get("issuer") != self.settings.oidc_issuer and document.get("issuer") != issuer:
            raise RuntimeFailure("the provider's metadata names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise RuntimeFailure(f"the provider's metadata lacks {key}")
        self._metadata = (now + METADATA_SECONDS, document)
        return document

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        cached = self._keys
        if cached is not None and not (refresh and now - cached[0] > JWKS_REFETCH_SECONDS):
            return cached[1]
        keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        self._keys = (now, keys)
        return keys

    def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.get(url, **kwargs)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RuntimeFailure(f"the sign-in provider did not answer: {exc}") from None
        if not isinstance(body, dict):
            raise RuntimeFailure("the sign-in provider answered something else than JSON")
        return body

    # -- the flow ------------------------------------------------------------------------

    def begin(self, redirect_uri: str, next_url: str) -> tuple[str, str]:
        """The provider's authorization URL and the ``state`` (the browser's cookie)."""
        meta = self.metadata()
        state = secrets.token_urlsafe(24)
        pending = Pending(
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            next_url=next_url,
            expires=time.monotonic() + PENDING_SECONDS,
        )
        with self._lock:
            now = time.monotonic()
            for key in [k for k, p in self._pending.items() if p.expires < now]:
                del self._pending[key]
            if len(self._pending) > 10_000:
                raise BadRequest("too many sign-ins under way; try again in a minute")
            self._pending[state] = pending
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.oidc_client_id,
                "redirect_uri": redirect_uri,
                "scope": self.settings.oidc_scopes,
                "state": state,
                "nonce": pending.nonce,
                "code_challenge": _challenge(pending.verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{meta['authorization_endpoint']}?{query}", state

    def finish(self, state: str, code: str, browser_state: str | None) -> tuple[UserRecord, str]:
        """The signed-in user and where they were going; raises with words otherwise."""
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or pending.expires < time.monotonic():
            raise Unauthorized("this sign-in expired or was already used; start again")
        if not browser_state or not secrets.compare_digest(browser_state, state):
            raise Unauthorized("this sign-in was started in another browser; start again")
        tokens = self._exchange(code, pending)
        claims = self._id_claims(str(tokens.get("id_token", "")), pending.nonce)
        claims = self._with_userinfo(claims, tokens.get("access_token"))
        return self._user(claims), pending.next_url

    def _exchange(self, code: str, pending: Pending) -> dict[str, Any]:
        secret = self.settings.oidc_client_secret
        assert secret is not None
        assert self.settings.oidc_client_id is not None
        try:
            response = self.http.post(
                self.metadata()["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": pending.redirect_uri,
                    "code_verifier": pending.verifier,
                },
                auth=(self.settings.oidc_client_id, secret.reveal()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"the sign-in provider did not answer: {exc}") from None
        if response.status_code != 200:
            log.warning(
                "OIDC token exchange refused: %s %s", response.status_code, response.text[:200]
            )
            raise Unauthorized("the sign-in provider refused the code; start again")
        body = response.json()
        if not isinstance(body, dict) or not body.get("id_token"):
            raise Unauthorized("the sign-in provider gave no ID token")
        return body

    def _id_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        algorithms = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in algorithms if a != "none" and not a.startswith("HS")]
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                # A key we do not know: the provider rotated its keys.
                token = jwt.decode(id_token, self._key_set(refresh=True), algorithms=algorithms)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.metadata()["issuer"]},
                aud={"essential": True, "value": str(self.settings.oidc_client_id)},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
                leeway=60,
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            log.warning("OIDC ID token refused: %s", exc)
            raise Unauthorized(f"the ID token was refused: {exc}") from None
        return dict(token.claims)

    def _with_userinfo(self, claims: dict[str, Any], access_token: object) -> dict[str, Any]:
        """Claims the ID token lacks (email, groups), from the userinfo endpoint."""
        endpoint = self.metadata().get("userinfo_endpoint")
        wanted = ("email", self.settings.oidc_groups_claim)
        if all(k in claims for k in wanted) or not endpoint or not isinstance(access_token, str):
            return claims
        info = self._get_json(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != claims.get("sub"):
            raise Unauthorized("the provider's userinfo is of another user")
        return {**info, **claims}

    # -- claims to a user ----------------------------------------------------------------

    def role_of(self, groups: list[str]) -> str:
        for group, role in self.settings.oidc_roles:
            if group in groups:
                return role
        if self.settings.oidc_default_role:
            return self.settings.oidc_default_role
        raise Forbidden("none of your groups is allowed into this BotMaker; ask its admin")

    def _user(self, claims: dict[str, Any]) -> UserRecord:
        subject = f"{self.settings.oidc_issuer}#{claims['sub']}"
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Forbidden("the provider gave no email address for you")
        raw_groups = claims.get(self.settings.oidc_groups_claim) or []
        groups = (
            [g for g in raw_groups if isinstance(g, str)] if isinstance(raw_groups, list) else []
        )
        role = self.role_of(groups)
        user = self.accounts.user_by_subject(subject)
        if user is None:
            user = self.accounts.add_user(
                user_id=secrets.token_hex(6),
                name=self._free_name(claims, email),
                role=role,
                email=None if self.accounts.user_by_name(email) else email,
                password_hash=None,
                source="oidc",
                subject=subject,
            )
        if user.disabled:
            raise Unauthorized("this user is disabled")
        user = self.accounts.update_user(user.id, role=role)
        self._sync_teams(user.id, groups)
        return user

    def _free_name(self, claims: dict[str, Any], email: str) -> str:
        for candidate in (claims.get("preferred_username"), email):
            if isinstance(candidate, str):
                name = _NAME_CHARS.sub("-", candidate)[:64].strip("-")
                if name and self.accounts.user_by_name(name) is None:
                    return name
        return f"{_NAME_CHARS.sub('-', email)[:50]}-{secrets.token_hex(3)}"

    def _sync_teams(self, user_id: str, groups: list[str]) -> None:
        teams = self.accounts.list_teams()
        wanted = {t.id for t in teams if t.name in groups}
        for team in teams:
            members = set(team.members)
            if team.id in wanted and user_id not in members:
                self.accounts.set_members(team.id, [*members, user_id])
            elif team.id not in wanted and user_id in members:
                self.accounts.set_members(team.id, members - {user_id})
