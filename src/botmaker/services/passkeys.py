"""Passkeys (WebAuthn): passwordless sign-in for local users, checked by the ``webauthn``
library (py_webauthn).

Registration happens in a signed-in session (your account page): ``register_options``
gives the browser a challenge for ``navigator.credentials.create`` (a discoverable
credential, so no user name is typed later), ``register`` verifies the attestation
(challenge, origin, RP ID, user presence) and keeps the credential's public key and
signature counter. Sign-in asks ``navigator.credentials.get`` with no credential list;
``authenticate`` finds the credential by its id, verifies the assertion against the
stored public key and counter, and returns the user. Each challenge is single-use and
lives two minutes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from botmaker.errors import InvalidInput, NotFound, Unauthorized
from botmaker.policy import Principal
from botmaker.store import Store
from botmaker.store.records import UserRecord

CHALLENGE_SECONDS = 120


@dataclass(frozen=True)
class Challenge:
    value: bytes
    user_id: str | None  # registration: whose; sign-in: None (anyone's passkey)
    expires: float


class Passkeys:
    def __init__(self, store: Store) -> None:
        self.accounts = store.accounts
        self._challenges: dict[str, Challenge] = {}
        self._lock = threading.Lock()

    def _keep(self, value: bytes, user_id: str | None) -> str:
        handle = secrets.token_urlsafe(18)
        with self._lock:
            now = time.monotonic()
            for key in [k for k, c in self._challenges.items() if c.expires < now]:
                del self._challenges[key]
            if len(self._challenges) > 10_000:
                raise InvalidInput("too many sign-ins under way; try again in a minute")
            self._challenges[handle] = Challenge(value, user_id, now + CHALLENGE_SECONDS)
        return handle

    def _take(self, handle: str, user_id: str | None) -> bytes:
        with self._lock:
            challenge = self._challenges.pop(handle, None)
        if challenge is None or challenge.expires < time.monotonic():
            raise Unauthorized("this passkey request expired; try again", field="handle")
        if challenge.user_id != user_id:
            raise Unauthorized("this passkey request is someone else's", field="handle")
        return challenge.value

    # -- registration ------------------------------------------------------------------

    def register_options(self, principal: Principal, rp_id: str) -> dict[str, Any]:
        existing = [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(str(p["id"])))
            for p in self.accounts.passkeys_of(principal.user_id)
        ]
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name="BotMaker",
            user_id=principal.user_id.encode(),
            user_name=principal.name,
            exclude_credentials=existing,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        handle = self._keep(options.challenge, principal.user_id)
        return {"handle": handle, "options": _json(options_to_json(options))}

    def register(
        self,
        principal: Principal,
        *,
        handle: str,
        credential: dict[str, Any],
        name: str,
        rp_id: str,
        origin: str,
    ) -> dict[str, object]:
        challenge = self._take(handle, principal.user_id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"the passkey was refused: {exc}", field="credential") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        self.accounts.add_passkey(
            credential_id=credential_id,
            user_id=principal.user_id,
            name=name,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
        )
        (made,) = [
            p for p in self.accounts.passkeys_of(principal.user_id) if p["id"] == credential_id
        ]
        return made

    # -- sign-in ---------------------------------------------------------------------------

    def sign_in_options(self, rp_id: str) -> dict[str, Any]:
        options = generate_authentication_options(
            rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED
        )
        return {
            "handle": self._keep(options.challenge, None),
            "options": _json(options_to_json(options)),
        }

    def authenticate(
        self, *, handle: str, credential: dict[str, Any], rp_id: str, origin: str
    ) -> UserRecord:
        challenge = self._take(handle, None)
        credential_id = credential.get("id") if isinstance(credential, dict) else None
        stored = self.accounts.passkey(str(credential_id)) if credential_id else None
        if stored is None:
            raise Unauthorized("this passkey is not registered here", field="credential")
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=bytes(stored["public_key"]),
                credential_current_sign_count=int(stored["sign_count"]),
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise Unauthorized(f"the passkey was refused: {exc}", field="credential") from None
        self.accounts.passkey_used(str(stored["id"]), verified.new_sign_count)
        try:
            user = self.accounts.get_user(str(stored["user_id"]))
        except NotFound:
            raise Unauthorized("this passkey's user is gone") from None
        if user.disabled:
            raise Unauthorized("this user is disabled")
        return user


def _json(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
