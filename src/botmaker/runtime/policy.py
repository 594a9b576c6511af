"""The one place that decides how a bot container is hardened.

Every backend builds its containers from :func:`bot_container_spec`; nothing else
chooses capabilities, users, limits or mounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from botmaker.config import Settings
from botmaker.runtime.base import ContainerSpec, Mount

LABEL_MANAGED = "botmaker.managed"
LABEL_BOT_ID = "botmaker.bot-id"
LABEL_BOT_NAME = "botmaker.bot-name"
LABEL_INSTANCE = "botmaker.instance"
LABEL_CHECK_FOR = "botmaker.check-for"  # a config check's container: the bot it checks
#: A config check's container is named ``<bot's container><CHECK_INFIX><hex>``.
CHECK_INFIX = "-check-"

SECRETS_TARGET = "/run/secrets"
STATE_TARGET = "/state"
BOT_HOME = "/home/bot"


def container_name(bot_id: str) -> str:
    return f"botmaker-{bot_id}"


def managed_labels(settings: Settings) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_INSTANCE: settings.instance}


def managed_filters(settings: Settings) -> dict[str, list[str]]:
    """The engine filter for what this instance made (containers, services, tasks, events):
    ``{"label": ["botmaker.managed=true", "botmaker.instance=<instance>"]}``."""
    return {"label": [f"{key}={value}" for key, value in managed_labels(settings).items()]}


@dataclass(frozen=True)
class BotIdentity:
    """What the policy needs to know about a bot (no secrets, ever)."""

    id: str
    name: str
    image: str
    uid: int
    facts: Mapping[str, str]  # non-secret settings exposed as BOTMAKER_* variables
    state_folder: Path | None = None  # OpenClaw's state, mounted read-write at /state
    proxy_url: str | None = None  # the egress proxy: the bot's one way out
    no_proxy: tuple[str, ...] = ()  # reached without it (the keyring's data plane)
    # The bot's own limits; None: the server's (``settings.limits``).
    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None


def proxy_env(proxy_url: str | None, no_proxy: tuple[str, ...]) -> dict[str, str]:
    """The standard proxy variables, both cases (curl reads lower case, Node either),
    and ``NODE_USE_ENV_PROXY`` so Node's own fetch and http honour them. No secret: the
    proxy knows a bot by its address."""
    if proxy_url is None:
        return {}
    bypass = ",".join(no_proxy)
    return {
        "HTTP_PROXY": proxy_url,
        "HTTPS_PROXY": proxy_url,
        "http_proxy": proxy_url,
        "https_proxy": proxy_url,
        "NO_PROXY": bypass,
        "no_proxy": bypass,
        "NODE_USE_ENV_PROXY": "1",
    }


def bot_container_spec(bot: BotIdentity, settings: Settings, secrets_folder: Path) -> ContainerSpec:
    limits = settings.limits
    memory = bot.memory_bytes or limits.memory_bytes
    uid = gid = bot.uid
    tmpfs_opts = f"rw,nosuid,nodev,noexec,size={limits.tmp_bytes},uid={uid},gid={gid},mode=0700"
    return ContainerSpec(
        name=container_name(bot.id),
        image=bot.image,
        hostname=bot.name,
        labels={
            **managed_labels(settings),
            LABEL_BOT_ID: bot.id,
            LABEL_BOT_NAME: bot.name,
        },
        # Non-secret facts only: secrets live in files under /run/secrets.
        env={
            "HOME": BOT_HOME,
            "TMPDIR": "/tmp",  # noqa: S108 - a private tmpfs per container
            "BOTMAKER_BOT_ID": bot.id,
            "BOTMAKER_BOT_NAME": bot.name,
            **{f"BOTMAKER_{key.upper()}": value for key, value in bot.facts.items()},
            "BOTMAKER_SECRETS_DIR": SECRETS_TARGET,
            "OPENCLAW_STATE_DIR": STATE_TARGET,
            "OPENCLAW_CONFIG_PATH": f"{STATE_TARGET}/openclaw.json",
            # No route out: npm fails at once rather than retrying for minutes.
            **({"npm_config_offline": "true"} if settings.bots_network_internal else {}),
            **proxy_env(bot.proxy_url, bot.no_proxy),
        },
        user=f"{uid}:{gid}",
        network=settings.network,
        mounts=(
            Mount(source=str(secrets_folder.resolve()), target=SECRETS_TARGET),
            *(
                (Mount(str(bot.state_folder.resolve()), STATE_TARGET, read_only=False),)
                if bot.state_folder is not None
                else ()
            ),
        ),
        tmpfs={"/tmp": tmpfs_opts, BOT_HOME: tmpfs_opts},  # noqa: S108
        read_only_rootfs=True,
        cap_drop=("ALL",),
        cap_add=(),
        security_opt=("no-new-privileges:true",),
        memory_bytes=memory,
        memory_swap_bytes=memory,  # no swap on top of the limit
        nano_cpus=int((bot.cpus or limits.cpus) * 1e9),
        pids_limit=bot.pids or limits.pids,
        log_driver="json-file",
        log_options={"max-size": limits.log_max_size, "max-file": str(limits.log_max_file)},
        restart_policy="unless-stopped",
        init=True,
        stop_timeout=settings.stop_timeout,
    )
