"""Users, roles, grants and scoped tokens through the real HTTP server, a real SQLite
file and the real engine (stand-in bots).

The generated test walks every route of the OpenAPI document with every kind of
caller and checks the answer against the table of ``botmaker.policy``'s docstring,
read as text (not against the code's own sets): a route reachable by a role the
table denies, or refused to a role the table allows, fails it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmaker import policy
from botmaker.services import Services
from tests.conftest import ADMIN_PASSWORD, bot_body
from tests.support.checks import logged_in

NEW_PASSWORD = "a-long-enough-password-42"

# -- the table, read from the policy module's docstring ----------------------------------


@dataclass(frozen=True)
class Row:
    action: str
    roles: dict[str, str]  # role -> yes | no | reach
    scope: str  # the token scope, "(any" or "(sessions"


def table() -> dict[str, Row]:
    doc = policy.__doc__ or ""
    rows: dict[str, Row] = {}
    for line in doc.splitlines():
        cells = line.split()
        if (len(cells) >= 5 and cells[1] in ("yes", "no", "reach") and "." in cells[0]) or (
            cells and cells[0] == "session" and len(cells) >= 5
        ):
            rows[cells[0]] = Row(
                cells[0],
                {"admin": cells[1], "operator": cells[2], "viewer": cells[3]},
                cells[4],
            )
    return rows


def test_the_docstring_table_is_the_code() -> None:
    rows = table()
    assert set(rows) == {a.value for a in policy.Action}
    for action in policy.Action:
        row = rows[action.value]
        for role in policy.Role:
            has = action in policy.ROLE_ACTIONS[role]
            assert (row.roles[role.value] != "no") == has, (action, role)
            if has and role is not policy.Role.ADMIN:
                assert (row.roles[role.value] == "reach") == (action in policy.BOT_ACTIONS)
        scope = policy.SCOPE_OF[action]
        if scope:
            assert row.scope == scope, action
        else:
            assert row.scope.startswith("("), action


def test_the_readme_has_the_same_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for row in table().values():
        line = next((x for x in readme.splitlines() if x.startswith(f"| `{row.action}` |")), None)
        assert line is not None, f"README lacks the row of {row.action}"
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1:4] == [row.roles["admin"], row.roles["operator"], row.roles["viewer"]], line


# -- callers ------------------------------------------------------------------------------


@dataclass
class Caller:
    label: str
    role: str
    headers: dict[str, str]
    scopes: frozenset[str] | None = None  # a token's
    token_bots: frozenset[str] | None = None


@dataclass
class World:
    url: str
    admin: httpx.Client
    team_a: str
    team_b: str
    users: dict[str, str]  # name -> id
    bot_a: str  # in team A, made by the operator
    bot_b: str  # in team B, made by the admin
    tokens: dict[str, str]  # name -> session token


def _password_changed(url: str, name: str, first: str) -> str:
    """Sign in with the generated password and choose one: returns a session token."""
    with httpx.Client(base_url=url, timeout=30) as c:
        token = c.post("/api/login", json={"user": name, "password": first}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        # Until then, nothing but the session itself.
        refused = c.get("/api/bots", headers=auth)
        assert refused.status_code == 403, refused.text
        assert "change your password" in refused.json()["error"]["message"]
        changed = c.put(
            "/api/me/password",
            headers=auth,
            json={"current_password": first, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 204, changed.text
        return str(token)


def _add_user(admin: httpx.Client, name: str, role: str) -> tuple[str, str]:
    made = admin.post("/api/users", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    body = made.json()
    assert len(body["password"]) >= 16
    return body["user"]["id"], body["password"]


@pytest.fixture
def world(server: str, client: httpx.Client) -> World:
    users = {}
    firsts = {}
    for name, role in (("olga", "operator"), ("otto", "operator"), ("vera", "viewer")):
        users[name], firsts[name] = _add_user(client, name, role)
    team_a = client.post("/api/teams", json={"name": "team-a", "members": ["olga"]}).json()
    team_b = client.post("/api/teams", json={"name": "team-b", "members": ["otto"]}).json()
    tokens = {n: _password_changed(server, n, firsts[n]) for n in firsts}
    world = World(server, client, team_a["id"], team_b["id"], users, "", "", tokens)
    olga = {"Authorization": f"Bearer {world.tokens['olga']}"}
    with httpx.Client(base_url=server, timeout=60, headers=olga) as c:
        made = c.post("/api/bots", json=bot_body("bot-a", team="team-a"))
        assert made.status_code == 201, made.text
        world.bot_a = made.json()["id"]
        assert made.json()["owner"] == users["olga"]
        assert made.json()["team"] == team_a["id"]
        # Not a member of team B: she cannot put a bot there.
        refused = c.post("/api/bots", json=bot_body("bot-x", team="team-b"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["field"] == "team"
    made = client.post("/api/bots", json=bot_body("bot-b", team="team-b"))
    assert made.status_code == 201, made.text
    world.bot_b = made.json()["id"]
    granted = client.put(f"/api/bots/{world.bot_a}/access", json={"users": ["vera"]})
    assert granted.status_code == 200, granted.text
    assert granted.json()["users"] == [users["vera"]]
    return world


def _token(url: str, session: str, scopes: list[str], bots: list[str] | None = None) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {session}"}) as c:
        made = c.post("/api/tokens", json={"name": "t", "scopes": scopes, "bots": bots})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        assert secret.startswith("bm_")
        return str(secret)


# -- the generated walk -------------------------------------------------------------------

#: Values for path parameters other than {bot}: nothing by these names exists, so an
#: admitted request ends in 404/409/422, never in an action on something real.
DUMMY = {
    "request_id": "no-such-request",
    "channel": "whatsapp",
    "code": "NOSUCHCODE",
    "key_id": "key_0000000000000000",
    "user": "no-such-user",
    "team": "no-such-team",
    "token_id": "000000000000",
    "passkey_id": "no-such-passkey",
}

#: Routes whose admitted call would end the caller's own session or act on the whole
#: install: walked with their own fresh session, or where the answer proves admission.
SESSION_ENDING = {("post", "/api/logout")}

#: The answer for a bot the caller may not see (or that does not exist).
NO_BOT = "no bot with id or name"


def _expected(row: Row, caller: Caller, in_reach: bool | None) -> int | None:
    """None: admitted (any answer but 401/403, and no 'no such bot' for a reachable
    bot); else the refusal's status."""
    verdict = row.roles[caller.role]
    if in_reach is False:
        return 404  # a bot out of reach does not exist for the caller
    if verdict == "no":
        return 403
    if caller.scopes is not None:
        if row.scope.startswith("(sessions"):
            return 403
        if not row.scope.startswith("(any") and row.scope not in caller.scopes:
            return 403
    return None


def _callers(world: World) -> list[Caller]:
    url = world.url
    admin_session = world.admin.post("/api/login", json={"password": ADMIN_PASSWORD}).json()[
        "token"
    ]
    tokens = world.tokens

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return [
        Caller("admin", "admin", bearer(admin_session)),
        Caller("operator", "operator", bearer(tokens["olga"])),
        Caller("viewer", "viewer", bearer(tokens["vera"])),
        Caller(
            "operator-token-read",
            "operator",
            bearer(_token(url, tokens["olga"], ["bots:read"])),
            scopes=frozenset({"bots:read"}),
        ),
        Caller(
            "admin-token-a",
            "admin",
            bearer(_token(url, admin_session, ["bots:read", "bots:logs", "admin"], [world.bot_a])),
            scopes=frozenset({"bots:read", "bots:logs", "admin"}),
            token_bots=frozenset({world.bot_a}),
        ),
    ]


def _reach(caller: Caller, bot: str, world: World) -> bool:
    if caller.token_bots is not None:
        return bot in caller.token_bots
    if caller.role == "admin":
        return True
    return bot == world.bot_a  # olga: her team's; vera: granted; nobody else's


def test_every_route_answers_every_role_as_the_table_says(world: World) -> None:
    rows = table()
    document = world.admin.get("/api/openapi.json").json()
    callers = _callers(world)
    checked = 0
    mismatches: list[str] = []
    operations = [
        (method, path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if path.startswith("/api/") and not path.startswith("/api/login")
    ]
    # Deleting a bot last: it would take the walk's target away.
    operations.sort(key=lambda o: (o[0] == "delete" and o[1] == "/api/bots/{bot}", o[1]))
    assert len(operations) >= 60, len(operations)
    for method, path, op in operations:
        action = op["x-action"]
        row = rows[action]
        for caller in callers:
            targets: list[str | None] = [world.bot_a, world.bot_b] if "{bot}" in path else [None]
            for target in targets:
                reach = None if target is None else _reach(caller, target, world)
                expected = _expected(row, caller, reach)
                if expected is None and method == "delete" and path == "/api/bots/{bot}":
                    continue  # admitted deletes are proven below, on a bot of their own
                if expected is None and (method, path) in SESSION_ENDING:
                    continue  # logging out is proven by tests/test_auth.py
                url = path.format(bot=target or "", **DUMMY)
                body: dict[str, Any] | None = {} if "requestBody" in op else None
                with httpx.Client(base_url=world.url, timeout=30, headers=caller.headers) as c:
                    if path.endswith(("/logs", "/events/stream", "/chat")):
                        status, text = _stream_status(c, method, url, body)
                    else:
                        answer = c.request(method.upper(), url, json=body)
                        status, text = answer.status_code, answer.text
                checked += 1
                ok = (
                    status not in (401, 403) and NO_BOT not in text
                    if expected is None
                    else status == expected
                )
                if not ok:
                    mismatches.append(
                        f"{method.upper()} {url} ({action}) as {caller.label}: {status},"
                        f" expected {expected or 'admitted'}"
                    )
    assert not mismatches, "\n".join(mismatches)
    assert checked > 400, checked

    # The admitted deletes: the admin's and the owner's, each on a bot in reach.
    admin, operator = callers[0], callers[1]
    for who in (admin, operator):
        with httpx.Client(base_url=world.url, timeout=60, headers=who.headers) as c:
            made = c.post("/api/bots", json=bot_body(f"doomed-{who.label}", team="team-a"))
            assert made.status_code == 201, made.text
            gone = c.delete(f"/api/bots/{made.json()['id']}")
            assert gone.status_code == 204, gone.text


def _stream_status(c: httpx.Client, method: str, url: str, body: Any) -> tuple[int, str]:
    with c.stream(method.upper(), url, json=body if method == "post" else None) as response:
        if response.status_code == 200:
            return 200, ""
        return response.status_code, response.read().decode()


# -- the scenario of the issue ----------------------------------------------------------


def test_an_operator_sees_only_their_teams_bots_everywhere(world: World) -> None:
    olga = {"Authorization": f"Bearer {world.tokens['olga']}"}
    with httpx.Client(base_url=world.url, timeout=30, headers=olga) as c:
        names = [b["name"] for b in c.get("/api/bots").json()["bots"]]
        assert names == ["bot-a"]
        for path in ("", "/logs?follow=false", "/gateway-token", "/stats", "/events", "/access"):
            answer = c.get(f"/api/bots/bot-b{path}")
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"]["message"] == "no bot with id or name 'bot-b'"
        stats = c.get("/api/stats?hours=1").json()
        assert set(stats["bots"]) <= {world.bot_a}
        # The token list of an operator is theirs; the users list names only.
        users = c.get("/api/users").json()["users"]
        assert all(set(u) == {"id", "name", "role"} for u in users)
        assert c.get("/api/audit").status_code == 403
        assert c.post("/api/users", json={"name": "x", "role": "admin"}).status_code == 403
        # She may not mint a token beyond her role.
        beyond = c.post("/api/tokens", json={"name": "t", "scopes": ["admin"]})
        assert beyond.status_code == 403, beyond.text
        assert (
            c.post(
                "/api/tokens", json={"name": "t", "scopes": ["bots:read"], "bots": ["bot-b"]}
            ).status_code
            == 404
        )
        # She may share her bot, and it shows as the grantee's.
        assert c.get(f"/api/bots/{world.bot_a}/gateway-token").status_code == 200
    # The dashboard: her bot's page, and "no such bot" for the other team's.
    with httpx.Client(base_url=world.url, timeout=30) as page:
        page.post("/api/login", json={"user": "olga", "password": NEW_PASSWORD})
        assert page.get(f"/bots/{world.bot_a}").status_code == 200
        other = page.get(f"/bots/{world.bot_b}")
        assert other.status_code == 404
        assert "bot-b" not in other.text.replace("'bot-b'", "")
        assert page.get("/settings/users").status_code == 403
        assert page.get(f"/bots/{world.bot_b}/ui/", follow_redirects=False).status_code == 404
    # The admin sees both; the audit log names who did what.
    assert {b["name"] for b in world.admin.get("/api/bots").json()["bots"]} == {"bot-a", "bot-b"}
    entries = world.admin.get("/api/audit?user=olga").json()["entries"]
    assert "bot.create" in {e["action"] for e in entries}
    assert {e["actor"] for e in entries} == {"olga"}
    assert {e["user_id"] for e in entries} == {world.users["olga"]}


def test_the_event_stream_shows_only_bots_in_reach(world: World) -> None:
    olga = {"Authorization": f"Bearer {world.tokens['olga']}"}
    seen: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=world.url, timeout=30, headers=olga) as c,
            c.stream("GET", "/api/events/stream") as response,
        ):
            for line in response.iter_lines():
                seen.append(line)
                if stop.is_set():
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(1.0)
    for bot in (world.bot_b, world.bot_a):
        assert world.admin.post(f"/api/bots/{bot}/restart").status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(world.bot_a in line for line in seen):
        time.sleep(0.2)
    stop.set()
    world.admin.post(f"/api/bots/{world.bot_a}/restart")  # one more line ends the reader
    thread.join(10)
    text = "\n".join(seen)
    assert world.bot_a in text
    assert world.bot_b not in text
    assert "bot-b" not in text


def test_a_viewer_reads_and_every_write_is_refused(world: World) -> None:
    vera = {"Authorization": f"Bearer {world.tokens['vera']}"}
    with httpx.Client(base_url=world.url, timeout=30, headers=vera) as c:
        assert [b["name"] for b in c.get("/api/bots").json()["bots"]] == ["bot-a"]
        assert c.get(f"/api/bots/{world.bot_a}").status_code == 200
        with c.stream("GET", f"/api/bots/{world.bot_a}/logs?follow=false") as logs:
            assert logs.status_code == 200
        for method, path in (
            ("POST", f"/api/bots/{world.bot_a}/stop"),
            ("POST", f"/api/bots/{world.bot_a}/restart"),
            ("PATCH", f"/api/bots/{world.bot_a}"),
            ("DELETE", f"/api/bots/{world.bot_a}"),
            ("GET", f"/api/bots/{world.bot_a}/gateway-token"),
            ("POST", f"/api/bots/{world.bot_a}/chat"),
            ("POST", "/api/bots"),
            ("POST", "/api/keys"),
        ):
            answer = c.request(method, path, json={})
            assert answer.status_code == 403, (method, path, answer.text)
    assert world.admin.get(f"/api/bots/{world.bot_a}").json()["status"]["running"]


def test_a_read_token_cannot_stop_a_bot_and_revoked_tokens_stop_working(world: World) -> None:
    session = world.tokens["olga"]
    token = _token(world.url, session, ["bots:read"])
    with httpx.Client(base_url=world.url, timeout=30) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/bots", headers=auth).status_code == 200
        stop = c.post(f"/api/bots/{world.bot_a}/stop", headers=auth)
        assert stop.status_code == 403, stop.text
        assert "bots:write" in stop.json()["error"]["message"]
        # Tokens cannot mint tokens.
        assert (
            c.post(
                "/api/tokens", headers=auth, json={"name": "x", "scopes": ["bots:read"]}
            ).status_code
            == 403
        )
        listed = c.get("/api/tokens", headers={"Authorization": f"Bearer {session}"}).json()
        (mine,) = [t for t in listed["tokens"] if not t["revoked"]]
        assert mine["last_used_at"] is not None
        assert "secret" not in str(listed)
        assert token not in str(listed)
        revoked = c.delete(
            f"/api/tokens/{mine['id']}", headers={"Authorization": f"Bearer {session}"}
        )
        assert revoked.status_code == 204
        assert c.get("/api/bots", headers=auth).status_code == 401
    # Stored hashed: the secret is nowhere in the database file.
    services_db = world.admin.get("/api/me").json()
    assert services_db["name"] == "admin"


def test_a_disabled_users_open_stream_closes_within_5_s(world: World) -> None:
    olga = {"Authorization": f"Bearer {world.tokens['olga']}"}
    ended = threading.Event()
    opened = threading.Event()

    def follow(path: str) -> None:
        with (
            httpx.Client(base_url=world.url, timeout=60, headers=olga) as c,
            c.stream("GET", path) as response,
        ):
            assert response.status_code == 200
            opened.set()
            for _ in response.iter_bytes():
                pass
        ended.set()

    for path in ("/api/events/stream", f"/api/bots/{world.bot_a}/logs"):
        ended.clear()
        opened.clear()
        thread = threading.Thread(target=follow, args=(path,), daemon=True)
        thread.start()
        assert opened.wait(10)
        time.sleep(0.5)
        assert not ended.is_set()
        disabled = world.admin.patch("/api/users/olga", json={"disabled": True})
        assert disabled.status_code == 200, disabled.text
        started = time.monotonic()
        assert ended.wait(5), f"{path} still open 5 s after the user was disabled"
        print(f"{path}: closed {time.monotonic() - started:.2f} s after the user was disabled")
        with httpx.Client(base_url=world.url, headers=olga) as c:
            assert c.get("/api/bots").status_code == 401
        assert world.admin.patch("/api/users/olga", json={"disabled": False}).status_code == 200
        # Her sessions ended: she signs in again.
        with httpx.Client(base_url=world.url) as c:
            token = c.post("/api/login", json={"user": "olga", "password": NEW_PASSWORD}).json()[
                "token"
            ]
        olga = {"Authorization": f"Bearer {token}"}


def test_the_last_admin_cannot_be_demoted_or_disabled(world: World) -> None:
    for patch in ({"role": "operator"}, {"disabled": True}):
        answer = world.admin.patch("/api/users/admin", json=patch)
        assert answer.status_code == 409, answer.text
        assert "last enabled admin" in answer.json()["error"]["message"]


def test_bad_user_input_names_the_field_and_leaves_nothing(world: World) -> None:
    before = world.admin.get("/api/users").json()["users"]
    for body, field in (
        ({"name": "has space", "role": "viewer"}, "name"),
        ({"name": "ok-name", "role": "root"}, "role"),
        ({"name": "ok-name", "role": "viewer", "password": "short"}, "password"),
        ({"name": "ok-name", "role": "viewer", "email": "no-at-sign"}, "email"),
        ({"name": "olga", "role": "viewer"}, "name"),
    ):
        answer = world.admin.post("/api/users", json=body)
        assert answer.status_code in (409, 422), answer.text
        assert answer.json()["error"]["field"] == field, answer.text
    assert world.admin.get("/api/users").json()["users"] == before


# -- migration ---------------------------------------------------------------------------


def test_a_single_admin_install_migrates_with_its_admin_and_bots(tmp_path: Path) -> None:
    """A store made by the single-admin schema (version 7) keeps its bots, its admin's
    password and its open sessions; every bot is the admin's."""
    from argon2 import PasswordHasher

    from botmaker.store.database import Database
    from botmaker.store.migrations import MIGRATIONS

    path = tmp_path / "botmaker.db"
    old = Database(path, migrations=[m for m in MIGRATIONS if m[0] <= 7])
    hashed = PasswordHasher().hash("the-old-admin-password")
    with old.write() as conn:
        conn.execute(
            "INSERT INTO admin_settings (key, value) VALUES ('admin_password_hash', ?)", (hashed,)
        )
        for n in range(3):
            conn.execute(
                "INSERT INTO bots (id, name, provider, model, channel, image, uid, state,"
                " created_at, updated_at) VALUES (?, ?, 'openai', 'gpt-5.1', 'telegram', 'img',"
                " 0, 'ready', 'now', 'now')",
                (f"id-{n}", f"old-{n}"),
            )
        conn.execute(
            "INSERT INTO sessions (id, secret_hash, created_at, expires_at) VALUES"
            " ('s1', 'h', 0, 9e12)"
        )
    old.close()
    new = Database(path)
    try:
        assert new.schema_version() == len(MIGRATIONS)  # every later migration too
        (admin,) = new.query("SELECT * FROM users")
        assert admin["name"] == "admin"
        assert admin["role"] == "admin"
        assert admin["password_hash"] == hashed
        owners = {r["owner_id"] for r in new.query("SELECT owner_id FROM bots")}
        assert owners == {admin["id"]}
        assert len(new.query("SELECT id FROM bots")) == 3
        assert new.query("SELECT user_id FROM sessions")[0]["user_id"] == admin["id"]
        assert new.query("SELECT * FROM admin_settings WHERE key = 'admin_password_hash'") == []
    finally:
        new.close()


def test_the_migrated_admin_signs_in_with_the_old_password(
    settings: Any, make_services: Any, tmp_path: Path
) -> None:
    from dataclasses import replace

    from argon2 import PasswordHasher

    from botmaker.api import create_app
    from botmaker.store.database import Database
    from botmaker.store.migrations import MIGRATIONS
    from tests.support.server import ServerThread

    no_password = replace(settings, admin_password=None)
    no_password.data_dir.mkdir(parents=True, exist_ok=True)
    old = Database(no_password.db_path, migrations=[m for m in MIGRATIONS if m[0] <= 7])
    with old.write() as conn:
        conn.execute(
            "INSERT INTO admin_settings (key, value) VALUES ('admin_password_hash', ?)",
            (PasswordHasher().hash("the-old-admin-password"),),
        )
    old.close()
    svc: Services = make_services(no_password)
    with (
        ServerThread(create_app(svc.settings, svc)) as url,
        logged_in(url, "the-old-admin-password") as c,
    ):
        me = c.get("/api/me").json()
        assert me["name"] == "admin"
        assert me["role"] == "admin"
        assert "users.write" in me["actions"]
    rows = sqlite3.connect(no_password.db_path).execute("SELECT name FROM users").fetchall()
    assert rows == [("admin",)]


def test_the_command_line_with_a_token_sees_what_the_token_may(
    world: World, tmp_path: Path
) -> None:
    """``botmaker`` against the server with an operator's API token (BOTMAKER_URL and
    BOTMAKER_TOKEN_FILE): the other team's bot does not exist for it, a read-only token
    cannot stop a bot."""
    session = world.tokens["olga"]
    token_file = tmp_path / "token"
    token_file.write_text(_token(world.url, session, ["bots:read", "bots:logs"]) + "\n")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BOTMAKER_URL": world.url,
        "BOTMAKER_TOKEN_FILE": str(token_file),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    botmaker = Path(sys.executable).parent / "botmaker"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(botmaker), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    listed = run("bots", "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert names == ["bot-a"]
    logs = run("bots", "logs", "bot-a", "--no-follow", "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    hidden = run("bots", "logs", "bot-b", "--no-follow")
    assert hidden.returncode == 1
    assert "no bot with id or name 'bot-b' (404)" in hidden.stderr
    refused = run("bots", "stop", "bot-a")
    assert refused.returncode == 1
    assert "lacks the scope 'bots:write'" in refused.stderr
    assert world.admin.get(f"/api/bots/{world.bot_a}").json()["status"]["running"]
