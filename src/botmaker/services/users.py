"""Users, teams, bot grants and API tokens: the use cases behind /settings/users,
``/api/users``, ``/api/teams``, ``/api/tokens`` and ``botmaker users``.

Who may call these is decided by :mod:`botmaker.policy` before they run; the rules
here are the ones no caller may break: an enabled admin always remains, a disabled
or reset user's sessions and tokens end at once, a password set by an admin must be
changed at first sign-in, a team or grant names users and bots that exist.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from argon2 import PasswordHasher

from botmaker.errors import Conflict, InvalidInput, NotFound
from botmaker.keyring.model import Budget
from botmaker.policy import Principal, Role
from botmaker.services.keyring import KeyringService
from botmaker.store import BotRecord, Store
from botmaker.store.records import TeamRecord, TokenRecord, UserRecord

#: A user name: also the identity a bot's gateway sees (chat sessions, Control UI).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
MIN_PASSWORD = 12


def check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field=field)
    if len(password) > 1024:
        raise InvalidInput("a password may have at most 1024 characters", field=field)


def user_dict(user: UserRecord, teams: Iterable[str] = ()) -> dict[str, Any]:
    """A user as the API shows it: never the password hash."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "source": user.source,
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "teams": sorted(teams),
    }


def team_dict(team: TeamRecord) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "members": list(team.members)}


def token_dict(token: TokenRecord) -> dict[str, Any]:
    """A token as listed: never its secret or hash."""
    return {
        "id": token.id,
        "name": token.name,
        "user_id": token.user_id,
        "scopes": list(token.scopes),
        "bots": None if token.bots is None else list(token.bots),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked": token.revoked_at is not None,
    }


class UserService:
    def __init__(
        self,
        store: Store,
        *,
        moved: Callable[[BotRecord], None] = lambda record: None,
        keyring: KeyringService | None = None,
    ) -> None:
        self.store = store
        self.accounts = store.accounts
        self.hasher = PasswordHasher()
        self.moved = moved  # a bot changed team: the keyring's pool follows
        self.keyring = keyring

    # -- users ------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        teams: dict[str, list[str]] = {}
        for team in self.accounts.list_teams():
            for member in team.members:
                teams.setdefault(member, []).append(team.id)
        return [user_dict(u, teams.get(u.id, ())) for u in self.accounts.list_users()]

    def get(self, ref: str) -> dict[str, Any]:
        user = self.accounts.find_user(ref)
        return user_dict(user, self.accounts.teams_of(user.id))

    def add(
        self,
        name: str,
        role: str,
        *,
        email: str | None = None,
        password: str | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """A new local user. Without ``password`` one is generated and returned (shown
        once). Either way the user must change it when they first sign in."""
        _check_name(name)
        role = _check_role(role)
        if email is not None and not EMAIL.fullmatch(email):
            raise InvalidInput("not an email address", field="email")
        generated = None
        if password is None:
            password = generated = secrets.token_urlsafe(15)
        check_password(password)
        user = self.accounts.add_user(
            user_id=secrets.token_hex(6),
            name=name,
            role=role,
            email=email,
            password_hash=self.hasher.hash(password),
            must_change_password=True,
        )
        return user_dict(user), generated

    def update(
        self,
        ref: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        user = self.accounts.find_user(ref)
        fields: dict[str, object] = {}
        if role is not None:
            fields["role"] = _check_role(role)
        if disabled is not None:
            fields["disabled"] = disabled
        if email is not None:
            if email and not EMAIL.fullmatch(email):
                raise InvalidInput("not an email address", field="email")
            fields["email"] = email or None
        demoted = role is not None and fields["role"] != "admin"
        if user.role == "admin" and not user.disabled and (demoted or disabled):
            self._keep_an_admin(user)
        updated = self.accounts.update_user(user.id, **fields)
        if disabled:
            self.accounts.end_sessions(user.id)
        return user_dict(updated, self.accounts.teams_of(user.id))

    def reset(self, ref: str) -> tuple[dict[str, Any], str]:
        """A new generated password (shown once), to be changed at the next sign-in;
        the user's sessions and tokens end."""
        user = self.accounts.find_user(ref)
        if user.source != "local":
            raise Conflict(f"{user.name} signs in with single sign-on; no password to reset")
        password = secrets.token_urlsafe(15)
        self.accounts.update_user(
            user.id, password_hash=self.hasher.hash(password), must_change_password=True
        )
        self.accounts.end_sessions(user.id)
        return user_dict(self.accounts.get_user(user.id)), password

    def change_password(self, principal: Principal, new: str) -> None:
        """The caller's own new password (the old one was checked by the caller)."""
        check_password(new, "new_password")
        self.accounts.update_user(
            principal.user_id, password_hash=self.hasher.hash(new), must_change_password=False
        )

    def _keep_an_admin(self, user: UserRecord) -> None:
        if self.accounts.count_admins() <= 1:
            raise Conflict(
                f"{user.name} is the last enabled admin: make another admin first",
                field="role",
            )

    # -- teams ------------------------------------------------------------------------

    def teams(self) -> list[dict[str, Any]]:
        return [team_dict(t) for t in self.accounts.list_teams()]

    def add_team(self, name: str, members: Iterable[str] = ()) -> dict[str, Any]:
        if not TEAM.fullmatch(name):
            raise InvalidInput(
                "1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit",
                field="name",
            )
        user_ids = self._users(members, "members")
        team = self.accounts.add_team(secrets.token_hex(6), name)
        return team_dict(self.accounts.set_members(team.id, user_ids))

    def set_members(self, ref: str, members: Iterable[str]) -> dict[str, Any]:
        team = self.accounts.find_team(ref)
        return team_dict(self.accounts.set_members(team.id, self._users(members, "members")))

    def delete_team(self, ref: str) -> TeamRecord:
        """Delete a team; its bots stay, with no team (their owners and grants remain),
        and its budget in the keyring goes."""
        team = self.accounts.find_team(ref)
        bots = [r for r in self.store.list_bots() if r.team_id == team.id]
        self.accounts.delete_team(team.id)
        for record in bots:
            self.moved(self.store.get_bot(record.id))
        if self.keyring is not None and self.keyring.enabled:
            self.keyring.client.delete_pool(team.id)
        return team

    def set_budget(self, ref: str, budget: Budget | None) -> dict[str, Any]:
        """The team's budget, shared by its bots and enforced by the keyring (None: none)."""
        team = self.accounts.find_team(ref)
        if self.keyring is None or not self.keyring.enabled:
            raise Conflict("team budgets are kept by the keyring proxy, which is off")
        if budget is None:
            self.keyring.client.delete_pool(team.id)
            return {"team": team.id, "budget": Budget().to_dict()}
        pool = self.keyring.client.put_pool(team.id, budget)
        return {"team": team.id, "budget": pool["budget"]}

    # -- a bot's access ---------------------------------------------------------------

    def access(self, bot_id: str) -> dict[str, Any]:
        record = self.store.get_bot(bot_id)
        return {
            "owner": record.owner_id,
            "team": record.team_id,
            "users": self.accounts.grantees(bot_id),
        }

    def set_access(
        self,
        principal: Principal,
        bot_id: str,
        *,
        users: Iterable[str] | None = None,
        team: str | None = None,
        clear_team: bool = False,
    ) -> dict[str, Any]:
        """Grant the bot to exactly ``users``; put it in ``team`` (or none)."""
        if users is not None:
            self.accounts.set_grants(bot_id, self._users(users, "users"))
        before = self.store.get_bot(bot_id).team_id
        if clear_team:
            self.store.update_bot(bot_id, team_id=None)
        elif team is not None:
            found = self.accounts.find_team(team)
            if principal.role is not Role.ADMIN and found.id not in principal.teams:
                raise InvalidInput(f"you are not a member of the team {team!r}", field="team")
            self.store.update_bot(bot_id, team_id=found.id)
        record = self.store.get_bot(bot_id)
        if record.team_id != before:
            self.moved(record)
        return self.access(bot_id)

    def _users(self, refs: Iterable[str], field: str) -> list[str]:
        ids = []
        for ref in refs:
            try:
                ids.append(self.accounts.find_user(ref).id)
            except NotFound:
                raise InvalidInput(f"no user {ref!r}", field=field) from None
        return ids

    # -- tokens -----------------------------------------------------------------------

    def tokens(self, user_id: str | None) -> list[dict[str, Any]]:
        return [token_dict(t) for t in self.accounts.tokens_of(user_id)]

    def revoke_token(self, principal: Principal, token_id: str) -> TokenRecord:
        token = self.accounts.get_token(token_id)
        if token.user_id != principal.user_id and principal.role is not Role.ADMIN:
            raise NotFound(f"no API token {token_id!r}", field="token")
        self.accounts.revoke_token(token.id)
        return token


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
            field="name",
        )


def _check_role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise InvalidInput(
            f"role must be one of {', '.join(r.value for r in Role)}", field="role"
        ) from None
