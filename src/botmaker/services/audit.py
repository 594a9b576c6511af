"""The audit log: who did what, when — and never a secret.

Every entry is ``(at, actor, action, target, detail)``. ``actor`` is the user (and API
token) of the request (:data:`botmaker.policy.acting`), else the log's own actor:
``admin`` for what the server does on its own behalf, ``cli`` for the command line. ``detail`` is
a small JSON object of *names* (edited fields, a key's provider and last 4
characters, a client address), never a value that could be a secret.

The services record their own actions: the audited subclasses below wrap the use
cases of the bot, keyring, orphan, auth, upgrade, rollout and chat services, so every
caller (API, pages, CLI) is audited the same way. Each is given the log it writes to
when it is built (``services.build_services``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from botmaker.errors import BotMakerError
from botmaker.keyring.model import Budget
from botmaker.policy import Principal, Role, acting
from botmaker.services.auth import FIRST_ADMIN, AuthService
from botmaker.services.bots import BotService, BotView
from botmaker.services.gateway.chat import ChatRequest, ChatService, ChatTurn
from botmaker.services.gateway.client import GatewayService
from botmaker.services.gateway.login import Login, LoginService, LoginView
from botmaker.services.gateway.pairing import PairingDecision, PairingService
from botmaker.services.keyring import KeyringService
from botmaker.services.orphans import OrphanService
from botmaker.services.rollout import RolloutService
from botmaker.services.schemas import BotCreate, BotUpdate, KeyCreate
from botmaker.services.upgrades import UpgradeService
from botmaker.services.users import UserService
from botmaker.store import BotRecord, Database
from botmaker.store.records import TeamRecord, TokenRecord, UserRecord

log = logging.getLogger(__name__)

MAX_LIMIT = 1000


class AuditLog:
    """Appends and pages the ``audit`` table. Recording never fails the action."""

    def __init__(self, db: Database, actor: str = "admin") -> None:
        self.db = db
        self.actor = actor

    def record(self, action: str, target: str = "", **detail: Any) -> None:
        caller = acting.get()
        actor = caller.actor if caller else self.actor
        user_id = caller.user_id if caller else None
        token_id = caller.token_id if caller else None
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO audit (at, actor, action, target, detail, user_id, token_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        time.time(),
                        actor,
                        action,
                        target,
                        json.dumps(detail, sort_keys=True),
                        user_id,
                        token_id,
                    ),
                )
        except BotMakerError as exc:  # the action happened; losing its entry is logged
            log.error("could not record %s of %s in the audit log: %s", action, target, exc)

    def entries(
        self, *, limit: int = 100, before: int | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries newest first; ``before`` (an entry id) pages back; ``user`` (a user
        id) keeps what that user did (and what was done to their account at login)."""
        rows = self.db.query(
            "SELECT id, at, actor, action, target, detail, user_id, token_id FROM audit"
            " WHERE id < :before AND (:user IS NULL OR user_id = :user)"
            " ORDER BY id DESC LIMIT :limit",
            {
                "before": before if before is not None else 2**63 - 1,
                "user": user,
                "limit": max(1, min(limit, MAX_LIMIT)),
            },
        )
        return _entries(rows)

    def since(
        self, after: int, *, user: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Entries after the entry id ``after``, oldest first (an export's pages)."""
        rows = self.db.query(
            "SELECT id, at, actor, action, target, detail, user_id, token_id FROM audit"
            " WHERE id > :after AND (:user IS NULL OR user_id = :user)"
            " ORDER BY id LIMIT :limit",
            {"after": after, "user": user, "limit": max(1, min(limit, MAX_LIMIT))},
        )
        return _entries(rows)

    def record_as(self, user: UserRecord | None, action: str, target: str, **detail: Any) -> None:
        """Record for a user who is not (yet) the caller: a login, a failed one."""
        if user is None:
            self.record(action, target, **detail)
            return
        principal = Principal(user_id=user.id, name=user.name, role=Role(user.role))
        reset = acting.set(principal)
        try:
            self.record(action, target, **detail)
        finally:
            acting.reset(reset)


def _entries(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]


class Audits:
    """Mixed in before a service: built with the service's own arguments plus the
    ``audit`` log its overrides record to."""

    def __init__(self, *args: Any, audit: AuditLog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audit = audit


def _fields(patch: BotUpdate) -> list[str]:
    """The names of the fields an edit sets (secrets by name only)."""
    names = set(patch.model_fields_set) - {"secrets"}
    secrets = getattr(patch, "secrets", None)
    if secrets is not None:
        names |= {f"secrets.{name}" for name in secrets.model_fields_set}
        credentials = getattr(secrets, "channel_credentials", None) or {}
        names |= {f"secrets.channel_credentials.{name}" for name in credentials}
    return sorted(names)


class AuditedBotService(Audits, BotService):
    """``BotService`` that records each change it makes."""

    def create(self, request: BotCreate, *, owner: str | None = None) -> BotView:
        view = super().create(request, owner=owner)
        self.audit.record(
            "bot.create",
            view.record.name,
            id=view.record.id,
            provider=view.record.provider,
            model=view.record.model,
            channel=view.record.channel,
            **({"team": view.record.team_id} if view.record.team_id else {}),
        )
        return view

    def update(self, ref: str, patch: BotUpdate) -> BotView:
        view = super().update(ref, patch)
        self.audit.record("bot.edit", view.record.name, id=view.record.id, fields=_fields(patch))
        return view

    def start(self, ref: str) -> BotView:
        view = super().start(ref)
        self.audit.record("bot.start", view.record.name, id=view.record.id)
        return view

    def stop(self, ref: str) -> BotView:
        view = super().stop(ref)
        self.audit.record("bot.stop", view.record.name, id=view.record.id)
        return view

    def restart(self, ref: str) -> BotView:
        view = super().restart(ref)
        self.audit.record("bot.restart", view.record.name, id=view.record.id)
        return view

    def delete(self, ref: str) -> BotRecord:
        record = super().delete(ref)
        self.audit.record("bot.delete", record.name, id=record.id)
        return record


class AuditedKeyringService(Audits, KeyringService):
    def add_key(self, request: KeyCreate) -> dict[str, Any]:
        info = super().add_key(request)
        self.audit.record(
            "key.add",
            str(info.get("id", "")),
            provider=info.get("provider"),
            last4=info.get("last4"),
        )
        return info

    def delete_key(self, key_id: str) -> None:
        known = {k.id: k for k in self.client.list_keys()}.get(key_id)
        super().delete_key(key_id)
        detail = {"provider": known.provider, "last4": known.last4} if known else {}
        self.audit.record("key.delete", key_id, **detail)


class AuditedOrphanService(Audits, OrphanService):
    def cleanup(self) -> dict[str, list[dict[str, Any]]]:
        removed = super().cleanup()
        self.audit.record(
            "orphans.cleanup",
            "",
            containers=len(removed["containers"]),
            secrets=len(removed["secrets"]),
            state=len(removed["state"]),
            grants=len(removed.get("grants", [])),
            failed=len(removed["failed"]),
        )
        return removed


class AuditedUpgradeService(Audits, UpgradeService):
    def upgrade(self, ref: str, image: str) -> dict[str, Any]:
        result = super().upgrade(ref, image)
        self.audit.record(
            "bot.upgrade",
            str(result["name"]),
            id=result["id"],
            image=image,
            digest=result.get("digest"),
            previous_image=result.get("previous_image"),
            status=result["status"],
        )
        return result


class AuditedRolloutService(Audits, RolloutService):
    """Each step of a rollout (start, every bot, every batch, paused or finished)."""

    def note(self, action: str, target: str, **detail: Any) -> None:
        super().note(action, target, **detail)
        self.audit.record(action, target, **detail)


class AuditedChatService(Audits, ChatService):
    """A message to a bot is a write (it runs the bot's agent): recorded with its
    length and conversation, never its text."""

    def begin(self, ref: str, request: ChatRequest, *, user: str, peer: str | None) -> ChatTurn:
        turn = super().begin(ref, request, user=user, peer=peer)
        self.audit.record(
            "bot.chat",
            turn.record.name,
            id=turn.record.id,
            conversation=request.conversation or "main",
            chars=len(request.message),
        )
        return turn


class AuditedGatewayService(Audits, GatewayService):
    """Approving or denying a browser's device pairing opens (or keeps shut) a bot's
    Control UI to that browser: recorded with the request id."""

    def decide_device(self, ref: str, request_id: str, *, approve: bool) -> BotRecord:
        record = super().decide_device(ref, request_id, approve=approve)
        action = "bot.device_approve" if approve else "bot.device_deny"
        self.audit.record(action, record.name, id=record.id, request=request_id)
        return record


class AuditedAuthService(Audits, AuthService):
    def login(self, password: str, client: str, user: str = FIRST_ADMIN) -> str:
        try:
            token = super().login(password, client, user)
        except BotMakerError as exc:
            known = self.accounts.user_by_name(user)
            self.audit.record_as(
                known,
                "login.failed",
                known.name if known else user[:64],
                client=client,
                status=exc.status,
            )
            raise
        self.audit.record_as(self.accounts.user_by_name(user), "login", user, client=client)
        return token

    def logout(self, token: str | None) -> None:
        super().logout(token)
        self.audit.record("logout")

    def create_token(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: frozenset[str],
        bots: frozenset[str] | None,
        expires_in: int | None,
    ) -> tuple[TokenRecord, str]:
        record, secret = super().create_token(
            principal, name=name, scopes=scopes, bots=bots, expires_in=expires_in
        )
        self.audit.record("token.add", name, id=record.id, scopes=sorted(scopes), bots=record.bots)
        return record, secret


class AuditedPairingService(Audits, PairingService):
    """Approving or denying a sender's DM pairing request: recorded with the channel
    and the sender's channel id (the code is spent by then)."""

    def approve(
        self, ref: str, channel: str, code: str, *, notify: bool = False
    ) -> PairingDecision:
        decision = super().approve(ref, channel, code, notify=notify)
        self._note("pairing.approve", decision, owner=decision.owner)
        return decision

    def deny(self, ref: str, channel: str, code: str) -> PairingDecision:
        decision = super().deny(ref, channel, code)
        self._note("pairing.deny", decision)
        return decision

    def _note(self, action: str, decision: PairingDecision, **more: Any) -> None:
        self.audit.record(
            action,
            decision.name,
            id=decision.id,
            channel=decision.channel,
            sender=decision.sender,
            **more,
        )


class AuditedLoginService(Audits, LoginService):
    """A channel login links an account to a bot: its start, cancel and outcome are
    recorded with the channel, never the code."""

    def start(self, ref: str, channel: str, *, force: bool = False) -> LoginView:
        view = super().start(ref, channel, force=force)
        self.audit.record(
            "channel.login_start", view.bot_name, id=view.bot_id, channel=channel, force=force
        )
        return view

    def cancel(self, ref: str, channel: str) -> LoginView:
        view = super().cancel(ref, channel)
        self.audit.record("channel.login_cancel", view.bot_name, id=view.bot_id, channel=channel)
        return view

    def ended(self, login: Login) -> None:
        self.audit.record(
            "channel.login_end",
            login.bot_name,
            id=login.bot_id,
            channel=login.channel,
            state=login.state,
        )


class AuditedUserService(Audits, UserService):
    """User, team, grant and token changes: recorded by name, never a password."""

    def add(
        self, name: str, role: str, *, email: str | None = None, password: str | None = None
    ) -> tuple[dict[str, Any], str | None]:
        user, generated = super().add(name, role, email=email, password=password)
        self.audit.record("user.add", name, id=user["id"], role=role)
        return user, generated

    def update(
        self,
        ref: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        user = super().update(ref, role=role, disabled=disabled, email=email)
        changed = {"role": role, "disabled": disabled, "email": email is not None or None}
        self.audit.record(
            "user.edit",
            user["name"],
            id=user["id"],
            **{k: v for k, v in changed.items() if v is not None},
        )
        return user

    def reset(self, ref: str) -> tuple[dict[str, Any], str]:
        user, password = super().reset(ref)
        self.audit.record("user.reset", user["name"], id=user["id"])
        return user, password

    def change_password(self, principal: Principal, new: str) -> None:
        super().change_password(principal, new)
        self.audit.record("user.password", principal.name, id=principal.user_id)

    def add_team(self, name: str, members: Iterable[str] = ()) -> dict[str, Any]:
        team = super().add_team(name, members)
        self.audit.record("team.add", name, id=team["id"], members=team["members"])
        return team

    def set_members(self, ref: str, members: Iterable[str]) -> dict[str, Any]:
        team = super().set_members(ref, members)
        self.audit.record("team.members", team["name"], id=team["id"], members=team["members"])
        return team

    def delete_team(self, ref: str) -> TeamRecord:
        team = super().delete_team(ref)
        self.audit.record("team.delete", team.name, id=team.id)
        return team

    def set_access(
        self,
        principal: Principal,
        bot_id: str,
        *,
        users: Iterable[str] | None = None,
        team: str | None = None,
        clear_team: bool = False,
    ) -> dict[str, Any]:
        access = super().set_access(
            principal, bot_id, users=users, team=team, clear_team=clear_team
        )
        self.audit.record("bot.access", self.store.get_bot(bot_id).name, id=bot_id, **access)
        return access

    def set_budget(self, ref: str, budget: Budget | None) -> dict[str, Any]:
        result = super().set_budget(ref, budget)
        team = self.accounts.find_team(ref)
        self.audit.record("team.budget", team.name, id=team.id, budget=result["budget"])
        return result

    def revoke_token(self, principal: Principal, token_id: str) -> TokenRecord:
        token = super().revoke_token(principal, token_id)
        self.audit.record("token.revoke", token.name, id=token.id, user=token.user_id)
        return token
