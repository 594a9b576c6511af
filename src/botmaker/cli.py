"""``botmaker``: serve the API, and manage bots from a shell.

Commands are thin: they build the same services the API uses and call them.
Secret values are read from files or hidden prompts, never from argv (where
``ps`` would show them).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from botmaker import remote
from botmaker.config import Settings
from botmaker.errors import BotMakerError
from botmaker.keyring.settings import KeyringSettings
from botmaker.netaddr import is_loopback
from botmaker.services import Services, build_services
from botmaker.services.schemas import BotCreate, KeyCreate

M = TypeVar("M", bound=BaseModel)
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
bots_app = typer.Typer(no_args_is_help=True, help="Manage bots.")
app.add_typer(bots_app, name="bots")
keys_app = typer.Typer(no_args_is_help=True, help="Provider keys in the keyring proxy.")
app.add_typer(keys_app, name="keys")
keyring_app = typer.Typer(
    no_args_is_help=True, help="The keyring proxy: provider keys, encrypted, out of bots' reach."
)
app.add_typer(keyring_app, name="keyring")
egress_app = typer.Typer(help="The egress proxy: the one way out for bots (BotMaker runs it).")
app.add_typer(egress_app, name="egress")
pairing_app = typer.Typer(
    no_args_is_help=True, help="DM pairing: senders waiting for a bot's approval."
)
app.add_typer(pairing_app, name="pairing")
users_app = typer.Typer(
    no_args_is_help=True, help="Users: admins, operators and viewers of this BotMaker."
)
app.add_typer(users_app, name="users")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except BotMakerError as exc:
        _fail(exc.message)


def _services() -> Services:
    try:
        return build_services(_settings(), actor="cli")  # the audit log tells CLI from API
    except BotMakerError as exc:
        _fail(exc.message)


def _validated(model: type[M], body: dict[str, object]) -> M:
    """``body`` as ``model``, or exit 2 naming the first invalid field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        _fail(f"{field}: {first['msg'].removeprefix('Value error, ')}", code=2)


def _log_to_console() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One line per request of BotMaker's own keyring/webhook calls would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def serve() -> None:
    """Run the API (and dashboard) server."""
    from botmaker.api import create_app
    from botmaker.api.server import serve as run_server
    from botmaker.api.server import uvicorn_config

    settings = _settings()
    _log_to_console()
    if not is_loopback(settings.host):
        logging.getLogger("botmaker").warning(
            "BOTMAKER_HOST=%s is not a loopback address: bots can reach BotMaker through "
            "their network gateway unless a firewall drops their traffic (see README)",
            settings.host,
        )
    try:
        application = create_app(settings)
    except BotMakerError as exc:
        _fail(exc.message)
    if not run_server(uvicorn_config(application, settings)):
        raise typer.Exit(3)  # uvicorn's own exit code for a server that did not start


def _remote() -> remote.Remote | None:
    """A remote BotMaker's API (BOTMAKER_URL with an API token), if one is named."""
    try:
        return remote.from_env()
    except (BotMakerError, OSError) as exc:
        _fail(getattr(exc, "message", str(exc)))


def _call(client: remote.Remote, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return client.call(method, path, **kwargs)
    except remote.RemoteError as exc:
        _fail(exc.message)


@bots_app.command("list")
def list_bots(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List bots with their live status."""
    client = _remote()
    if client is not None:
        with client:
            views = _call(client, "GET", "/api/bots")["bots"]
    else:
        with _run() as svc:
            views = [v.to_dict() for v in svc.bots.list()]
    if as_json:
        typer.echo(json.dumps(views, indent=2))
        return
    if not views:
        typer.echo("no bots yet: create one with 'botmaker bots create'")
        return
    typer.echo(f"{'NAME':<24} {'STATUS':<12} {'PROVIDER':<12} {'MODEL':<28} {'CHANNEL':<10} ID")
    for bot in views:
        status = bot["status"]["state"]
        if bot["status"]["exit_code"] is not None:
            status += f"({bot['status']['exit_code']})"
        typer.echo(
            f"{bot['name']:<24} {status:<12} {bot['provider']:<12} {bot['model']:<28} "
            f"{bot['channel']:<10} {bot['id']}"
        )


def _read_secret(path: Path | None, prompt: str, required: bool) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}")
    if not required:
        return None
    if not sys.stdin.isatty():
        _fail(f"{prompt}: pass it with a --*-file option (secrets are never taken from argv)")
    value: str = typer.prompt(prompt, hide_input=True)
    return value


@bots_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="1-63 of a-z 0-9 -, starting with a letter")],
    provider: Annotated[str, typer.Option(help="Provider id (see GET /api/providers)")],
    model: Annotated[str, typer.Option(help="Model id")],
    channel: Annotated[str, typer.Option(help="Channel id (see GET /api/channels)")],
    api_key_file: Annotated[
        Path | None, typer.Option(help="File holding the provider API key")
    ] = None,
    channel_token_file: Annotated[
        Path | None, typer.Option(help="File holding the channel token")
    ] = None,
    channel_config_file: Annotated[
        Path | None, typer.Option(help="File holding the channel configuration")
    ] = None,
) -> None:
    """Create a bot and start it."""
    secrets = {
        "api_key": _read_secret(api_key_file, "Provider API key", required=False),
        "channel_token": _read_secret(channel_token_file, "Channel token", required=True),
        "channel_config": _read_secret(channel_config_file, "Channel config", required=False),
    }
    request = _validated(
        BotCreate,
        {
            "name": name,
            "provider": provider,
            "model": model,
            "channel": channel,
            "secrets": {k: v for k, v in secrets.items() if v is not None},
        },
    )
    with _run() as svc:
        view = svc.bots.create(request)
    typer.echo(f"created {view.record.name} ({view.record.id}): {view.status.state}")


def _lifecycle(action: Literal["start", "stop", "restart"], doc: str) -> None:
    """Register ``bots <action> BOT``: one lifecycle call, then the bot's state."""

    def command(bot: Annotated[str, typer.Argument(help="Bot name or id")]) -> None:
        client = _remote()
        if client is not None:
            with client:
                answer = _call(client, "POST", client.bot_path(bot, f"/{action}"))
            typer.echo(f"{answer['name']}: {answer['status']['state']}")
            return
        with _run() as svc:
            view = getattr(svc.bots, action)(bot)
        typer.echo(f"{view.record.name}: {view.status.state}")

    command.__doc__ = doc
    bots_app.command(action)(command)


_lifecycle("start", "Start a bot.")
_lifecycle("stop", "Stop a bot.")
_lifecycle("restart", "Restart a bot.")


@bots_app.command("delete")
def delete(
    bot: Annotated[str, typer.Argument(help="Bot name or id")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a bot: its container, secrets and configuration."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete bot {bot} and its secrets?", abort=True)
    client = _remote()
    if client is not None:
        with client:
            _call(client, "DELETE", client.bot_path(bot))
    else:
        with _run() as svc:
            svc.bots.delete(bot)
    typer.echo(f"deleted {bot}")


@bots_app.command("logs")
def logs(
    bot: Annotated[str, typer.Argument(help="Bot name or id")],
    tail: Annotated[int, typer.Option(min=0, help="Lines of history")] = 100,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f")] = True,
) -> None:
    """Print a bot's logs (stderr lines go to stderr)."""
    client = _remote()
    if client is not None:
        with client:
            try:
                for stream_name, line in client.logs(bot, tail=tail, follow=follow):
                    target = sys.stderr if stream_name == "stderr" else sys.stdout
                    target.write(line + "\n")
                    target.flush()
            except remote.RemoteError as exc:
                _fail(exc.message)
            except KeyboardInterrupt:
                pass
        return
    with _run() as svc:
        stream = svc.bots.logs(bot, tail=tail, follow=follow)
        try:
            for chunk in stream:
                target = sys.stderr.buffer if chunk.stream == "stderr" else sys.stdout.buffer
                target.write(chunk.data)
                target.flush()
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()


def _passphrase(path: Path | None) -> str | None:
    if path is None:
        return None
    value = _read_secret(path, "Passphrase", required=True)
    if not value:
        _fail(f"{path} is empty", code=2)
    return value


@app.command("migrate-runtime")
def migrate_runtime_command(
    runtime: Annotated[str, typer.Argument(help="docker or swarm: where the bots should run")],
) -> None:
    """Move every bot to another runtime (Docker containers or Swarm services), keeping
    its state and secrets. Run it while BotMaker is stopped, then start BotMaker with
    BOTMAKER_RUNTIME set to the new runtime."""
    from botmaker.services.migrate import migrate_runtime

    def report(result: dict[str, object]) -> None:
        if result["result"] == "moved":
            typer.echo(f"moved {result['name']} from {result['from']} to {result['to']}")
        else:
            typer.secho(
                f"could not move {result['name']}: {result['message']} (left on {result['from']})",
                fg=typer.colors.RED,
                err=True,
            )

    try:
        results = migrate_runtime(_settings(), runtime, progress=report)
    except BotMakerError as exc:
        _fail(exc.message, code=2 if exc.status < 500 else 1)
    if any(r["result"] != "moved" for r in results):
        _fail("the move stopped; the bots not moved still run on the old runtime")
    typer.echo(
        f"{len(results)} bot(s) now on {runtime}; start BotMaker with BOTMAKER_RUNTIME={runtime}"
    )


@app.command()
def upgrade(
    bots: Annotated[list[str] | None, typer.Argument(help="Bot names or ids")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every ready bot")] = False,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Image reference (default: BOTMAKER_OPENCLAW_CHANNEL's)"),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=50, help="Bots upgraded at once after the canary")
    ] = 1,
    max_failures: Annotated[
        int,
        typer.Option("--max-failures", min=0, max=1000, help="Failures tolerated before pausing"),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Roll an image out: one bot first (the canary), then batches, each bot rolled back
    if it does not become healthy; pauses once failures exceed --max-failures. Run it
    again to resume: bots already on the image are skipped. Exits 1 when it paused or a
    bot failed."""
    if bool(bots) == everyone:
        _fail("name the bots to upgrade, or pass --all", code=2)
    _log_to_console()
    with _run() as svc:
        result = svc.rollouts.run(image, bots or None, batch=batch, max_failures=max_failures)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_rollout(result)
    if result["paused"] or result["failures"]:
        raise typer.Exit(1)


def _print_rollout(result: dict[str, Any]) -> None:
    typer.echo(f"image {result['image']}")
    typer.echo(f"digest {result['digest'] or '-'}")
    for bot in result["results"]:
        where = {None: "", 0: "canary"}.get(bot.get("batch"), f"batch {bot.get('batch')}")
        typer.echo(
            f"{bot['name']:<24} {bot['status']:<12} {where:<9} {bot['digest'] or '-'}  "
            f"{bot['detail']}"
        )
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result["summary"].items()))
    if result["paused"]:
        typer.secho(f"paused: {result['paused_reason']}", fg=typer.colors.RED, err=True)
        typer.echo(f"rollout paused ({counts}); run it again to resume")
    else:
        typer.echo(f"rollout finished in {result['seconds']:.1f} s ({counts or 'no bots'})")


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Archive to write (.tar.gz, mode 0600)")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="Include the bots' secrets, encrypted with this passphrase")
    ] = None,
) -> None:
    """Back up the store, every bot's state folder, the keyring database and (with a
    passphrase) the bots' secrets. The keyring's master key is never included."""
    from botmaker.services.backup import create_backup

    passphrase = _passphrase(passphrase_file)
    with _run() as svc:
        manifest = create_backup(svc, file, passphrase)
    secrets = "with encrypted secrets" if passphrase else "WITHOUT secrets (no passphrase)"
    typer.echo(f"wrote {file}: {len(manifest['bots'])} bots, {secrets}")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="Archive written by 'botmaker backup'")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="The passphrase the backup was made with")
    ] = None,
) -> None:
    """Restore a backup onto an installation without bots, and start every bot."""
    from botmaker.services.backup import restore_backup

    passphrase = _passphrase(passphrase_file)
    try:
        report = restore_backup(_settings(), file, passphrase)
    except BotMakerError as exc:
        _fail(exc.message, code=2 if exc.status < 500 else 1)
    for name in report.started:
        typer.echo(f"restored {name}: started")
    for name in report.missing_secrets:
        typer.echo(f"restored {name}: secrets missing, not started")
    for name, message in report.failed.items():
        typer.echo(f"restored {name}: did not start: {message}")
    if report.keyring == "kept":
        typer.echo("the existing keyring database was kept; the archived one was not restored")
    if report.failed:
        raise typer.Exit(1)


@bots_app.command("export")
def export(
    bot: Annotated[str, typer.Argument(help="Bot name or id")],
    file: Annotated[Path, typer.Argument(help="Archive to write (.tar.gz, mode 0600)")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="Include the bot's secrets, encrypted with this passphrase")
    ] = None,
) -> None:
    """Export one bot (definition, state folder, secrets) to move it to another install."""
    from botmaker.services.backup import export_bot

    passphrase = _passphrase(passphrase_file)
    with _run() as svc:
        manifest = export_bot(svc, bot, file, passphrase)
    secrets = "with encrypted secrets" if passphrase else "WITHOUT secrets (no passphrase)"
    typer.echo(f"exported {manifest['bots'][0]['name']} to {file}, {secrets}")


@bots_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Archive written by 'botmaker bots export'")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="The passphrase the export was made with")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Import under this name")] = None,
) -> None:
    """Create a bot from an export (and start it if its secrets are in the archive)."""
    from botmaker.services.backup import import_bot

    passphrase = _passphrase(passphrase_file)
    with _run() as svc:
        record, started = import_bot(svc, file, passphrase, name)
    state = "started" if started else "secrets missing, not started"
    typer.echo(f"imported {record.name} ({record.id}): {state}")


class _run:  # noqa: N801 - used as a context manager, reads like a function
    """Build services, map our errors to a clean message and exit code, close."""

    def __enter__(self) -> Services:
        self.svc = _services()
        return self.svc

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> Literal[False]:
        self.svc.close()
        if isinstance(exc, BotMakerError):
            where = f" ({exc.field})" if exc.field else ""
            _fail(f"{exc.message}{where}", code=2 if exc.status < 500 else 1)
        return False


@pairing_app.command("list")
def pairing_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the pending DM pairing requests of every running bot."""
    with _run() as svc:
        bots = [item.to_dict() for item in svc.pairing.pending()]
    if as_json:
        typer.echo(json.dumps(bots, indent=2))
        return
    if not bots:
        typer.echo("no running bot has a channel whose DM policy is pairing")
        return
    typer.echo(f"{'BOT':<24} {'CHANNEL':<12} {'CODE':<10} {'SENDER':<20} NAME")
    for bot in bots:
        if bot["error"]:
            typer.echo(f"{bot['name']:<24} error: {bot['error']}")
        for req in bot["requests"]:
            typer.echo(
                f"{bot['name']:<24} {req['channel']:<12} {req['code']:<10} "
                f"{req['sender']:<20} {req['name']}"
            )


@pairing_app.command("approve")
def pairing_approve(
    bot: Annotated[str, typer.Argument(help="Bot name or id")],
    channel: Annotated[str, typer.Argument(help="Channel, e.g. telegram")],
    code: Annotated[str, typer.Argument(help="The pairing code the sender got")],
    notify: Annotated[bool, typer.Option("--notify", help="Tell the sender")] = False,
) -> None:
    """Let the sender of a pairing code message the bot."""
    with _run() as svc:
        decision = svc.pairing.approve(bot, channel, code, notify=notify)
    owner = f"; command owner {decision.owner}" if decision.owner else ""
    typer.echo(f"{decision.name}: approved {channel} sender {decision.sender}{owner}")


@pairing_app.command("deny")
def pairing_deny(
    bot: Annotated[str, typer.Argument(help="Bot name or id")],
    channel: Annotated[str, typer.Argument(help="Channel, e.g. telegram")],
    code: Annotated[str, typer.Argument(help="The pairing code the sender got")],
) -> None:
    """Dismiss a pairing request (the sender may ask again later)."""
    with _run() as svc:
        decision = svc.pairing.deny(bot, channel, code)
    typer.echo(f"{decision.name}: dismissed the request of {channel} sender {decision.sender}")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List provider keys (last 4 characters only)."""
    with _run() as svc:
        keys = svc.keyring.list_keys(svc.bots.names())
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    if not keys:
        typer.echo("no keys yet: add one with 'botmaker keys add'")
        return
    typer.echo(f"{'ID':<22} {'PROVIDER':<12} {'LAST4':<6} {'LABEL':<28} {'TAGS':<16} BOT")
    for key in keys:
        typer.echo(
            f"{key['id']:<22} {key['provider']:<12} {key['last4']:<6} {key['label']:<28} "
            f"{','.join(key['tags']) or '-':<16} {key['bot_name'] or '(shared)'}"
        )


@keys_app.command("add")
def keys_add(
    provider: Annotated[str, typer.Option(help="Provider id (see GET /api/providers)")],
    key_file: Annotated[Path | None, typer.Option(help="File holding the API key")] = None,
    label: Annotated[str, typer.Option(help="A name to recognise it by")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable)")] = None,
) -> None:
    """Add a shared provider key (read from a file or a hidden prompt, never argv)."""
    secret = _read_secret(key_file, "Provider API key", required=True)
    request = _validated(
        KeyCreate, {"provider": provider, "key": secret, "label": label, "tags": tag or []}
    )
    with _run() as svc:
        key = svc.keyring.add_key(request)
    typer.echo(f"added {key['id']} ({key['provider']}, ...{key['last4']})")


@keys_app.command("delete")
def keys_delete(key_id: Annotated[str, typer.Argument(help="Key id (see 'keys list')")]) -> None:
    """Delete a shared provider key."""
    with _run() as svc:
        svc.keyring.delete_key(key_id)
    typer.echo(f"deleted {key_id}")


@app.command()
def usage(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of history")] = 31,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What each bot spent through the keyring: requests and tokens, today and this month."""
    client = _remote()
    if client is not None:
        with client:
            report = _call(client, "GET", "/api/usage", params={"days": days})
    else:
        with _run() as svc:
            report = svc.keyring.usage(svc.bots.names(), days=days)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(
        f"{'BOT':<24} {'REQ TODAY':>10} {'TOKENS TODAY':>13} {'REQ MONTH':>10} "
        f"{'TOKENS MONTH':>13} {'ERRORS':>7}"
    )
    for bot_id, row in report["bots"].items():
        today, month = row["today"], row["month"]
        typer.echo(
            f"{row.get('name') or bot_id:<24} {today['requests']:>10} {today['tokens']:>13} "
            f"{month['requests']:>10} {month['tokens']:>13} {month['errors']:>7}"
        )


def _keyring_settings() -> KeyringSettings:
    try:
        return KeyringSettings.from_env()
    except BotMakerError as exc:
        _fail(exc.message)


@keyring_app.command("serve")
def keyring_serve() -> None:
    """Run the keyring proxy: the data plane for bots and the admin API for BotMaker."""
    from botmaker.keyring.server import run

    _log_to_console()
    run(_keyring_settings())


@egress_app.command("serve")
def egress_serve() -> None:
    """Run the egress proxy (settings from BOTMAKER_EGRESS_* variables; BotMaker starts it)."""
    from botmaker.egress.server import main as run_egress

    run_egress()


@keyring_app.command("rotate")
def keyring_rotate(
    new_master_key: Annotated[
        bool, typer.Option("--new-master-key", help="Also replace the master key file")
    ] = False,
    new_passphrase_file: Annotated[
        Path | None, typer.Option(help="Also change the passphrase to the one in this file")
    ] = None,
) -> None:
    """Re-wrap every stored key under a new key-encryption key (resumes if interrupted)."""
    from botmaker.keyring.server import rotate

    settings = _keyring_settings()
    passphrase = _read_secret(new_passphrase_file, "New passphrase", required=False)
    try:
        report = rotate(
            settings,
            new_master_key=new_master_key,
            new_passphrase=passphrase,
            progress=lambda done, total: typer.echo(f"re-wrapped {done}/{total}"),
        )
    except BotMakerError as exc:
        _fail(exc.message)
    verb = "resumed and finished" if report.resumed else "finished"
    typer.echo(
        f"rotation {verb}: {report.rewrapped} keys now under key-encryption key "
        f"v{report.kek_version}"
    )


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users: role, state, last sign-in."""
    with _run() as svc:
        users = svc.users.users()
    if as_json:
        typer.echo(json.dumps(users, indent=2))
        return
    typer.echo(f"{'NAME':<24} {'ROLE':<9} {'STATE':<9} {'LAST SIGN-IN':<20} EMAIL")
    for user in users:
        last = user["last_login_at"]
        seen = time.strftime("%Y-%m-%d %H:%M", time.gmtime(last)) if last else "never"
        state = "disabled" if user["disabled"] else "enabled"
        typer.echo(
            f"{user['name']:<24} {user['role']:<9} {state:<9} {seen:<20} {user['email'] or '-'}"
        )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[str, typer.Option(help="admin | operator | viewer")] = "operator",
    email: Annotated[str | None, typer.Option(help="Email address")] = None,
) -> None:
    """Add a user; prints a generated password once (changed at first sign-in)."""
    with _run() as svc:
        user, password = svc.users.add(name, role, email=email)
    typer.echo(f"added {user['name']} ({user['role']}); password, shown once: {password}")


def _set_disabled(name: str, disabled: bool) -> None:
    with _run() as svc:
        user = svc.users.update(name, disabled=disabled)
    state = "disabled (sessions and tokens ended)" if disabled else "enabled"
    typer.echo(f"{user['name']} is {state}")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="User name, id or email")]) -> None:
    """Disable a user: their sessions and API tokens end at once."""
    _set_disabled(name, True)


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="User name, id or email")]) -> None:
    """Enable a disabled user again (their old tokens stay revoked)."""
    _set_disabled(name, False)


@users_app.command("reset")
def users_reset(name: Annotated[str, typer.Argument(help="User name, id or email")]) -> None:
    """A new generated password, shown once; changed at next sign-in; sessions end."""
    with _run() as svc:
        user, password = svc.users.reset(name)
    typer.echo(f"{user['name']}: new password, shown once: {password}")


def main() -> None:
    app()
