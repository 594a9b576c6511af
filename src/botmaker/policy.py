"""Who may do what: the one authorisation function of BotMaker.

Every API route, SSE stream, dashboard page, the Control UI proxy and the exports
ask :func:`allowed` (through :func:`check`); nothing else decides access. The rules
are data — this table — and pure functions over a :class:`Principal` and, for a
bot's actions, the bot's owner and team. It knows nothing of HTTP or SQL.

A role gives actions; a bot action also needs the bot to be *in reach*: an
admin reaches every bot, anyone else the bots they own, the bots granted to them
and the bots of their teams. An API token narrows its user's rights further: to
its scopes and, optionally, to a list of bots. A bot out of reach is answered as
if it did not exist (404), an action the role lacks with 403.

====================  =====  ========  ======  ====================================
action                admin  operator  viewer  token scope
====================  =====  ========  ======  ====================================
session               yes    yes       yes     (any token)
catalog.read          yes    yes       yes     bots:read
fleet.read            yes    yes       yes     bots:read   (lists show bots in reach; engine up)
bot.read              yes    reach     reach   bots:read   (status, events, stats, usage)
bot.logs              yes    reach     reach   bots:logs
bot.create            yes    yes       no      bots:write
bot.operate           yes    reach     no      bots:write  (start, stop, restart)
bot.edit              yes    reach     no      bots:write  (settings, image upgrade, grants)
bot.delete            yes    reach     no      bots:write
bot.access            yes    reach     no      bots:access (gateway token, chat, Control UI,
                                                            devices, DM pairing, logins)
image.pull            yes    yes       no      bots:write
keys.read             yes    yes       no      keys:read
keys.write            yes    no        no      keys:write
keys.test             yes    yes       no      keys:read   (check a key's format; one call to
                                                            its provider through the keyring)
engine.read           yes    no        no      admin       (nodes, diagnostics: fleet-wide)
fleet.upgrade         yes    no        no      admin
admin.ops             yes    no        no      admin       (orphans, reconcile, cleanup)
admin.backup          yes    no        no      admin       (backup, bot export and import)
alerts.read           yes    no        no      admin
alerts.write          yes    no        no      admin
audit.read            yes    no        no      admin
users.read            yes    yes       yes     users:read  (names only for non-admins)
users.write           yes    no        no      admin       (users, teams)
tokens.own            yes    yes       yes     (sessions only: a token cannot mint tokens)
metrics.read          yes    no        no      metrics:read (GET /metrics; also the scrape
                                                            token, or loopback without one)
====================  =====  ========  ======  ====================================
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

from botmaker.errors import Forbidden, NotFound


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Action(StrEnum):
    SESSION = "session"
    CATALOG_READ = "catalog.read"
    FLEET_READ = "fleet.read"
    BOT_READ = "bot.read"
    BOT_LOGS = "bot.logs"
    BOT_CREATE = "bot.create"
    BOT_OPERATE = "bot.operate"
    BOT_EDIT = "bot.edit"
    BOT_DELETE = "bot.delete"
    BOT_ACCESS = "bot.access"
    IMAGE_PULL = "image.pull"
    KEYS_READ = "keys.read"
    KEYS_WRITE = "keys.write"
    KEYS_TEST = "keys.test"
    ENGINE_READ = "engine.read"
    FLEET_UPGRADE = "fleet.upgrade"
    ADMIN_OPS = "admin.ops"
    ADMIN_BACKUP = "admin.backup"
    ALERTS_READ = "alerts.read"
    ALERTS_WRITE = "alerts.write"
    AUDIT_READ = "audit.read"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    TOKENS_OWN = "tokens.own"
    METRICS_READ = "metrics.read"


A = Action

#: Actions on one bot: they need the bot in reach, besides the role's right.
BOT_ACTIONS = frozenset(
    {A.BOT_READ, A.BOT_LOGS, A.BOT_OPERATE, A.BOT_EDIT, A.BOT_DELETE, A.BOT_ACCESS}
)

_VIEWER = frozenset(
    {A.SESSION, A.CATALOG_READ, A.FLEET_READ, A.BOT_READ, A.BOT_LOGS, A.USERS_READ, A.TOKENS_OWN}
)
_OPERATOR = _VIEWER | {
    A.BOT_CREATE,
    A.BOT_OPERATE,
    A.BOT_EDIT,
    A.BOT_DELETE,
    A.BOT_ACCESS,
    A.IMAGE_PULL,
    A.KEYS_READ,
    A.KEYS_TEST,
}

#: What each role may do (bot actions: on the bots in reach).
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.VIEWER: _VIEWER,
}

#: The token scope each action needs (``None``: any token; ``TOKENS_OWN`` never).
SCOPE_OF: dict[Action, str | None] = {
    A.SESSION: None,
    A.CATALOG_READ: "bots:read",
    A.FLEET_READ: "bots:read",
    A.BOT_READ: "bots:read",
    A.ENGINE_READ: "admin",
    A.BOT_LOGS: "bots:logs",
    A.BOT_CREATE: "bots:write",
    A.BOT_OPERATE: "bots:write",
    A.BOT_EDIT: "bots:write",
    A.BOT_DELETE: "bots:write",
    A.IMAGE_PULL: "bots:write",
    A.BOT_ACCESS: "bots:access",
    A.KEYS_READ: "keys:read",
    A.KEYS_WRITE: "keys:write",
    A.KEYS_TEST: "keys:read",
    A.USERS_READ: "users:read",
    A.FLEET_UPGRADE: "admin",
    A.ADMIN_OPS: "admin",
    A.ADMIN_BACKUP: "admin",
    A.ALERTS_READ: "admin",
    A.ALERTS_WRITE: "admin",
    A.AUDIT_READ: "admin",
    A.USERS_WRITE: "admin",
    A.TOKENS_OWN: "",  # no scope grants it: tokens are made in a signed-in session
    A.METRICS_READ: "metrics:read",
}

#: Every scope a token may carry.
SCOPES = frozenset(s for s in SCOPE_OF.values() if s)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, through a session or one of their API tokens."""

    user_id: str
    name: str
    role: Role
    teams: frozenset[str] = frozenset()
    granted: frozenset[str] = frozenset()  # bot ids granted to the user directly
    session_id: str | None = None
    token_id: str | None = None
    scopes: frozenset[str] | None = None  # a token's scopes; None for a session
    token_bots: frozenset[str] | None = None  # a token's bot list; None: all in reach
    must_change_password: bool = False
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.name} (token {self.token_id})" if self.token_id else self.name


#: Who scrapes ``GET /metrics`` with BOTMAKER_METRICS_TOKEN (or from loopback when no
#: token is set): the action ``metrics.read`` and nothing else (no other scope, no bot).
SCRAPER = Principal(
    user_id="",
    name="metrics scraper",
    role=Role.ADMIN,
    scopes=frozenset({"metrics:read"}),
    token_bots=frozenset(),
)


#: The caller of the request being served: set by the API's authorisation, read by
#: the audit log (an action with no caller, such as a background check, has none).
acting: ContextVar[Principal | None] = ContextVar("acting", default=None)


@dataclass(frozen=True)
class Owned:
    """What the policy needs to know of a bot: its id, owner and team."""

    id: str
    owner_id: str | None
    team_id: str | None


def in_reach(principal: Principal, bot: Owned) -> bool:
    """Whether the bot is visible to the principal at all."""
    if principal.token_bots is not None and bot.id not in principal.token_bots:
        return False
    if principal.role is Role.ADMIN:
        return True
    return (
        (bot.owner_id is not None and bot.owner_id == principal.user_id)
        or bot.id in principal.granted
        or (bot.team_id is not None and bot.team_id in principal.teams)
    )


def sees_all(principal: Principal) -> bool:
    """Every bot is in reach: an admin's session, or an admin's token with no bot list."""
    return principal.role is Role.ADMIN and principal.token_bots is None


def role_allows(principal: Principal, action: Action) -> bool:
    """The role (and the token's scopes) allow the action, bot reach aside."""
    if action not in ROLE_ACTIONS[principal.role]:
        return False
    if principal.scopes is None:
        return True
    needed = SCOPE_OF[action]
    return needed is None or (bool(needed) and needed in principal.scopes)


def allowed(principal: Principal, action: Action, bot: Owned | None = None) -> bool:
    """The one authorisation function: may this principal do this (to this bot)?"""
    if not role_allows(principal, action):
        return False
    if action in BOT_ACTIONS:
        return bot is not None and in_reach(principal, bot)
    return True


def check(principal: Principal, action: Action, bot: Owned | None = None, ref: str = "") -> None:
    """Raise unless :func:`allowed`: 404 for a bot out of reach (as if it did not
    exist), 403 for an action the role or token lacks."""
    if bot is not None and action in BOT_ACTIONS and not in_reach(principal, bot):
        raise NotFound(f"no bot with id or name {ref or bot.id!r}", field="id")
    if not allowed(principal, action, bot):
        raise Forbidden(_why(principal, action))


def check_team(principal: Principal, team_id: str, ref: str = "") -> None:
    """A bot may be put in a team only by an admin or one of the team's members."""
    if principal.role is not Role.ADMIN and team_id not in principal.teams:
        raise Forbidden(f"you are not a member of the team {ref or team_id!r}", field="team")


def _why(principal: Principal, action: Action) -> str:
    if action in ROLE_ACTIONS[principal.role] and principal.scopes is not None:
        needed = SCOPE_OF[action]
        if not needed:
            return f"{action} needs a signed-in session, not an API token"
        return f"this token lacks the scope {needed!r} ({action})"
    return f"a {principal.role} may not {action}"


def can_grant_scopes(principal: Principal, scopes: frozenset[str]) -> set[str]:
    """The scopes in ``scopes`` that would give a token more than its user may do."""
    role = ROLE_ACTIONS[principal.role]
    beyond = set()
    for scope in scopes:
        actions = {a for a, s in SCOPE_OF.items() if s == scope}
        if not actions & role:
            beyond.add(scope)
    return beyond
