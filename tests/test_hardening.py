"""Every bot container is hardened: checked with ``docker inspect`` and from inside it.

Each property is read twice: from the engine's view of the container (what BotMaker
asked for) and from a process inside the running container (what the kernel
actually enforces). Every negative check has a positive control in the same
container, so a broken probe cannot pass for a hardened one.
"""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from botmaker.config import BotLimits, Settings
from botmaker.runtime.policy import (
    LABEL_BOT_ID,
    LABEL_BOT_NAME,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    SECRETS_TARGET,
)
from botmaker.runtime.swarm import bot_network
from botmaker.services import Services
from tests.support.bots import (
    ExecResult,
    RunningBot,
    create_bot,
    exec_in,
    is_swarm,
    resolve_container,
    wait_serving,
)
from tests.support.fixtures import MakeServices
from tests.support.waiting import wait_for

ZERO_CAPS = "0000000000000000"
CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


@pytest.fixture
def bot(services: Services, docker_api: docker.APIClient) -> RunningBot:
    token = uuid.uuid4().hex
    running = create_bot(
        services,
        "hardened",
        {
            "api_key": f"sk-hardening-{token}",
            "channel_token": f"tg-hardening-{token}",
            "channel_config": json.dumps({"webhook_secret": f"cfg-hardening-{token}"}),
        },
    )
    wait_serving(docker_api, running)
    return running


def inspect(api: docker.APIClient, bot: RunningBot) -> dict[str, Any]:
    """``docker inspect`` of the bot's container (Swarm: its running task's container)."""
    info: dict[str, Any] = api.inspect_container(resolve_container(api, bot.container))
    assert info["State"]["Running"] is True, info["State"]
    return info


def status_fields(text: str) -> dict[str, str]:
    """``Name:\\tvalue`` lines of /proc/<pid>/status."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cgroup_limits(api: docker.APIClient, container: str) -> dict[str, str]:
    """The memory/pids/cpu limits as the container's own cgroup reports them (v1 or v2)."""
    result = exec_in(
        api,
        container,
        "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then"
        "  echo memory=$(cat /sys/fs/cgroup/memory.max);"
        "  echo swap=$(cat /sys/fs/cgroup/memory.swap.max);"
        "  echo pids=$(cat /sys/fs/cgroup/pids.max);"
        "  echo cpu=$(cat /sys/fs/cgroup/cpu.max);"
        " else"
        "  echo memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes);"
        "  echo pids=$(cat /sys/fs/cgroup/pids/pids.max);"
        "  echo cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
        " $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us);"
        " fi",
    )
    assert result.code == 0, result
    values = dict(line.split("=", 1) for line in result.out.splitlines() if "=" in line)
    assert {"memory", "pids", "cpu"} <= set(values), result
    return values


def tmpfs_options(api: docker.APIClient, container: str, target: str) -> list[str]:
    result = exec_in(api, container, "cat /proc/mounts")
    for line in result.out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == target:
            assert parts[2] == "tmpfs", line
            return parts[3].split(",")
    raise AssertionError(f"{target} is not mounted:\n{result.out}")


def declared_tmpfs(host: dict[str, Any]) -> dict[str, str]:
    """The tmpfs mounts asked for, with their options: ``HostConfig.Tmpfs``, or (a Swarm
    task) its volumes of the local driver's type tmpfs."""
    if host.get("Tmpfs"):
        return dict(host["Tmpfs"])
    found = {}
    for mount in host.get("Mounts") or ():
        driver = ((mount.get("VolumeOptions") or {}).get("DriverConfig")) or {}
        options = driver.get("Options") or {}
        if mount["Type"] == "volume" and options.get("type") == "tmpfs":
            assert mount["VolumeOptions"]["NoCopy"] is True
            found[mount["Target"]] = str(options["o"])
    return found


def assert_limits(
    api: docker.APIClient, bot: RunningBot, limits: BotLimits, *, swarm: bool = False
) -> None:
    host = inspect(api, bot)["HostConfig"]
    assert host["Memory"] == limits.memory_bytes
    if swarm:  # a service cannot set the swap limit: the engine's default (twice the limit)
        assert host["MemorySwap"] in (limits.memory_bytes * 2, -1, 0), host["MemorySwap"]
    else:
        assert host["MemorySwap"] == limits.memory_bytes  # no swap on top of the limit
    assert host["NanoCpus"] == int(limits.cpus * 1e9)
    assert host["PidsLimit"] == limits.pids
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": limits.log_max_size, "max-file": str(limits.log_max_file)},
    }
    for target in ("/tmp", "/home/bot"):
        assert f"size={limits.tmp_bytes}" in declared_tmpfs(host)[target]

    inside = cgroup_limits(api, bot.container)
    assert int(inside["memory"]) == limits.memory_bytes
    if "swap" in inside and not swarm:  # cgroup v2 shows the swap allowance on its own
        assert inside["swap"] == "0"
    assert int(inside["pids"]) == limits.pids
    quota, period = (int(v) for v in inside["cpu"].split())
    assert quota / period == pytest.approx(limits.cpus)
    for target in ("/tmp", "/home/bot"):
        assert f"size={limits.tmp_bytes // 1024}k" in tmpfs_options(api, bot.container, target)


# -- identity -------------------------------------------------------------------------


def test_container_name_and_labels(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    info = inspect(docker_api, bot)
    if is_swarm(services):  # the task's container: <service>.<slot>.<task id>
        assert info["Name"].startswith(f"/botmaker-{bot.id}.1.")
        service = docker_api.inspect_service(bot.container)  # type: ignore[no-untyped-call]
        assert service["Spec"]["Labels"][LABEL_BOT_ID] == bot.id
        assert service["Spec"]["Labels"][LABEL_INSTANCE] == services.settings.instance
    else:
        assert info["Name"] == f"/botmaker-{bot.id}"
    labels = info["Config"]["Labels"]
    assert labels[LABEL_MANAGED] == "true"
    assert labels[LABEL_BOT_ID] == bot.id
    assert labels[LABEL_BOT_NAME] == bot.name
    assert labels[LABEL_INSTANCE] == services.settings.instance
    found = docker_api.containers(
        all=True, filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_BOT_ID}={bot.id}"]}
    )
    assert [c["Id"] for c in found] == [info["Id"]]


# -- privileges -----------------------------------------------------------------------


def test_all_capabilities_dropped(bot: RunningBot, docker_api: docker.APIClient) -> None:
    host = inspect(docker_api, bot)["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert host["Privileged"] is False

    for pid in ("1", "self"):
        result = exec_in(docker_api, bot.container, f"cat /proc/{pid}/status")
        fields = status_fields(result.out)
        for name in CAP_FIELDS:
            assert fields[name] == ZERO_CAPS, (pid, name, fields[name])

    # Even uid 0 inside the container holds no capability: it cannot override the
    # bot's 0600 file permissions (that would take CAP_DAC_OVERRIDE / _READ_SEARCH).
    as_root = exec_in(
        docker_api,
        bot.container,
        "id -u; grep CapEff /proc/self/status; cat /run/secrets/api_key",
        user="0",
    )
    assert as_root.out.splitlines()[0] == "0"
    assert status_fields(as_root.out)["CapEff"] == ZERO_CAPS
    assert as_root.code != 0
    assert "Permission denied" in as_root.err
    assert bot.secrets["api_key"] not in as_root.out
    # Positive control: the bot's own user reads the same file.
    as_bot = exec_in(docker_api, bot.container, "cat /run/secrets/api_key")
    assert as_bot.code == 0
    assert as_bot.out == bot.secrets["api_key"]


def test_no_new_privileges(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    host = inspect(docker_api, bot)["HostConfig"]
    if is_swarm(services):
        # A Swarm service cannot ask for it (API 1.41): only the engine's default
        # (dockerd --no-new-privileges) gives it, and swarm mode refuses to run without
        # that unless BOTMAKER_SWARM_ALLOW_NEW_PRIVILEGES is set, as these tests do.
        assert services.settings.swarm_allow_new_privileges
        engine_default = "no-new-privileges" in " ".join(docker_api.info()["SecurityOptions"])
        expected = "1" if engine_default else "0"
        for pid in ("1", "self"):
            result = exec_in(docker_api, bot.container, f"cat /proc/{pid}/status")
            assert status_fields(result.out)["NoNewPrivs"] == expected, (pid, result.out)
        return
    assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"])
    assert all(opt.split(":", 1)[-1] != "false" for opt in host["SecurityOpt"])
    for pid in ("1", "self"):
        result = exec_in(docker_api, bot.container, f"cat /proc/{pid}/status")
        assert status_fields(result.out)["NoNewPrivs"] == "1", (pid, result.out)


def test_runs_as_the_bots_own_non_root_uid(bot: RunningBot, docker_api: docker.APIClient) -> None:
    assert bot.uid != 0
    info = inspect(docker_api, bot)
    assert info["Config"]["User"] == f"{bot.uid}:{bot.uid}"

    ids = exec_in(docker_api, bot.container, "id -u; id -g")
    assert ids.out.split() == [str(bot.uid), str(bot.uid)]
    # Every process in the container (init, entrypoint, httpd, ...) runs as the bot.
    procs = exec_in(
        docker_api,
        bot.container,
        "for s in /proc/[0-9]*/status; do"
        ' grep -E "^(Name|Uid|Gid):" "$s" 2>/dev/null | tr "\\n" " "; echo; done',
    )
    lines = [line for line in procs.out.splitlines() if "Uid:" in line]
    names = {line.split()[1] for line in lines}
    assert {"docker-init", "httpd"} <= names, procs.out
    for line in lines:
        fields = line.split()
        uid_values = fields[fields.index("Uid:") + 1 : fields.index("Uid:") + 5]
        gid_values = fields[fields.index("Gid:") + 1 : fields.index("Gid:") + 5]
        assert uid_values == [str(bot.uid)] * 4, line
        assert gid_values == [str(bot.uid)] * 4, line
    # The entrypoint itself reported the same uid on its first line.
    logs = docker_api.logs(
        resolve_container(docker_api, bot.container), stdout=True, stderr=False
    ).decode()
    assert f"standin: uid={bot.uid} gid={bot.uid}" in logs


# -- filesystem -----------------------------------------------------------------------


def test_root_filesystem_is_read_only_and_tmpfs_is_writable(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    host = inspect(docker_api, bot)["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert set(declared_tmpfs(host)) == {"/tmp", "/home/bot"}

    for path in ("/probe", "/bin/probe", "/etc/probe", "/run/probe"):
        result = exec_in(docker_api, bot.container, f"echo x > {path}")
        assert result.code != 0, path
        assert "Read-only file system" in result.err, (path, result)
    removed = exec_in(docker_api, bot.container, "rm -f /bin/sh")
    assert removed.code != 0
    assert "Read-only file system" in removed.err

    writable = exec_in(
        docker_api,
        bot.container,
        'echo tmp-ok > /tmp/probe && cat /tmp/probe && echo "$HOME" '
        '&& echo home-ok > "$HOME/probe" && cat "$HOME/probe"',
    )
    assert writable.code == 0, writable
    assert writable.out.split() == ["tmp-ok", "/home/bot", "home-ok"]
    # The tmpfs mounts are private to the bot and cannot hold programs.
    for target in ("/tmp", "/home/bot"):
        options = tmpfs_options(docker_api, bot.container, target)
        assert {"rw", "nosuid", "nodev", "noexec", "mode=700", f"uid={bot.uid}"} <= set(options)
        listed = exec_in(docker_api, bot.container, f"stat -c '%a %u' {target}").out.split()
        assert listed[1] == str(bot.uid), (target, listed)
        # Docker: runc gives a tmpfs the mode of the image folder it covers (/tmp: 1777),
        # whatever mode= says; Swarm's tmpfs volumes are mounted over it, as asked.
        if is_swarm(services):
            assert listed[0] == "700", (target, listed)
    noexec = exec_in(docker_api, bot.container, "cp /bin/busybox /tmp/bb && /tmp/bb true")
    assert noexec.code != 0
    assert "Permission denied" in noexec.err


def test_secrets_are_mounted_read_only_with_private_permissions(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    folder = services.settings.secrets_dir / bot.id
    mounts = {m["Destination"]: m for m in inspect(docker_api, bot)["Mounts"]}
    if is_swarm(services):
        assert_swarm_secret_files(bot, services, docker_api, mounts)
        return
    assert set(mounts) == {SECRETS_TARGET, "/state"}, mounts
    # The only writable mount is the bot's own OpenClaw state folder, owned by its uid.
    state = mounts["/state"]
    assert state["RW"] is True
    state_folder = services.settings.data_dir / "bots" / bot.id / "state"
    assert Path(state["Source"]) == state_folder.resolve()
    assert stat.S_IMODE(state_folder.stat().st_mode) == 0o700
    assert state_folder.stat().st_uid == bot.uid
    mount = mounts[SECRETS_TARGET]
    assert mount["Type"] == "bind"
    assert mount["Destination"] == SECRETS_TARGET
    assert Path(mount["Source"]) == folder.resolve()
    assert mount["RW"] is False
    assert mount["Mode"] == "ro"

    # Host side: root folder and bot folder 0700, files 0600, owned by the bot's uid.
    root_stat = services.settings.secrets_dir.stat()
    assert stat.S_IMODE(root_stat.st_mode) == 0o700
    folder_stat = folder.stat()
    assert stat.S_IMODE(folder_stat.st_mode) == 0o700
    assert (folder_stat.st_uid, folder_stat.st_gid) == (bot.uid, bot.uid)
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([*bot.secrets, "gateway_token"])  # generated by BotMaker
    for name, value in bot.secrets.items():
        file_stat = (folder / name).stat()
        assert stat.S_IMODE(file_stat.st_mode) == 0o600, name
        assert (file_stat.st_uid, file_stat.st_gid) == (bot.uid, bot.uid), name
        assert (folder / name).read_text(encoding="utf-8") == value

    # Container side: the same modes and owner, seen through the mount.
    seen = exec_in(
        docker_api, bot.container, f"stat -c '%a %u %g %n' {SECRETS_TARGET} {SECRETS_TARGET}/*"
    )
    assert seen.code == 0, seen
    expected = {f"700 {bot.uid} {bot.uid} {SECRETS_TARGET}"} | {
        f"600 {bot.uid} {bot.uid} {SECRETS_TARGET}/{name}"
        for name in [*bot.secrets, "gateway_token"]
    }
    assert set(seen.out.splitlines()) == expected

    # The owner of every file still cannot change the mount: it is read-only.
    for script, result in tamper_with_secrets(docker_api, bot):
        assert result.code != 0, script
        assert "Read-only file system" in result.err, (script, result)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*bot.secrets, "gateway_token"])
    assert (folder / "api_key").read_text(encoding="utf-8") == bot.secrets["api_key"]
    assert stat.S_IMODE((folder / "api_key").stat().st_mode) == 0o600
    # Positive control: the bot can read its own secrets.
    readable = exec_in(docker_api, bot.container, f"cat {SECRETS_TARGET}/channel_token")
    assert readable.out == bot.secrets["channel_token"]


def test_no_docker_socket_and_no_published_ports(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    info = inspect(docker_api, bot)
    host = info["HostConfig"]
    raw = json.dumps(info)
    assert "docker.sock" not in raw
    expected_mounts = (
        ["/home/bot", "/state", "/tmp"] if is_swarm(services) else [SECRETS_TARGET, "/state"]
    )
    assert sorted(m["Destination"] for m in info["Mounts"]) == expected_mounts
    folder = (services.settings.secrets_dir / bot.id).resolve()
    state = (services.settings.data_dir / "bots" / bot.id / "state").resolve()
    assert not host["PortBindings"]
    assert host["PublishAllPorts"] is False
    assert not info["NetworkSettings"]["Ports"]
    assert not info["Config"].get("ExposedPorts")
    if is_swarm(services):
        assert not host["Binds"]
        mounts = [(m["Type"], m.get("Source"), m["Target"]) for m in host["Mounts"]]
        assert [m for m in mounts if m[0] == "bind"] == [("bind", str(state), "/state")]
        assert sorted(m[2] for m in mounts if m[0] != "bind") == ["/home/bot", "/tmp"]
        network = bot_network(services.settings, bot.id)
        assert list(info["NetworkSettings"]["Networks"]) == [network]
    else:
        assert sorted(host["Binds"]) == sorted(
            [f"{folder}:{SECRETS_TARGET}:ro", f"{state}:/state:rw"]
        )
        assert host["NetworkMode"] == services.settings.network
        assert list(info["NetworkSettings"]["Networks"]) == [services.settings.network]
    assert (
        host["IpcMode"] in ("private", "") if is_swarm(services) else host["IpcMode"] == "private"
    )
    assert not host["PidMode"]  # not the host's PID namespace

    inside = exec_in(
        docker_api,
        bot.container,
        "for p in /var/run/docker.sock /run/docker.sock /run/secrets/api_key; do"
        ' if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi; done;'
        " grep -cF docker.sock /proc/self/mountinfo",
    )
    assert inside.out.splitlines() == [
        "absent /var/run/docker.sock",
        "absent /run/docker.sock",
        "present /run/secrets/api_key",  # positive control: the probe sees real files
        "0",
    ]


def test_env_argv_and_labels_hold_no_secret_value(
    bot: RunningBot, docker_api: docker.APIClient
) -> None:
    info = inspect(docker_api, bot)
    config = info["Config"]
    exposed = json.dumps(
        {
            "Env": config["Env"],
            "Cmd": config["Cmd"],
            "Entrypoint": config["Entrypoint"],
            "Labels": config["Labels"],
            "Path": info["Path"],
            "Args": info["Args"],
            "HostConfig": info["HostConfig"],
        }
    )
    values = [json.loads(bot.secrets["channel_config"])["webhook_secret"], *bot.secrets.values()]
    for value in values:
        assert value not in exposed
        assert value not in json.dumps(info)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["BOTMAKER_SECRETS_DIR"] == SECRETS_TARGET
    assert env["BOTMAKER_BOT_ID"] == bot.id

    # What the processes themselves carry: every environ and argv in the container.
    inside = exec_in(
        docker_api,
        bot.container,
        "for p in /proc/[0-9]*; do"
        ' cat "$p/environ" "$p/cmdline" 2>/dev/null | tr "\\0" "\\n"; done',
    )
    assert f"BOTMAKER_BOT_ID={bot.id}" in inside.out  # positive control
    assert "httpd" in inside.out  # positive control: argv was read too
    for value in values:
        assert value not in inside.out


def tamper_with_secrets(api: docker.APIClient, bot: RunningBot) -> list[tuple[str, ExecResult]]:
    """The bot's own user tries to add, overwrite, remove and chmod its secret files."""
    scripts = (
        f"echo x > {SECRETS_TARGET}/new",
        f"echo x > {SECRETS_TARGET}/api_key",
        f"rm -f {SECRETS_TARGET}/channel_token",
        f"chmod 644 {SECRETS_TARGET}/api_key",
    )
    return [(script, exec_in(api, bot.container, script)) for script in scripts]


def assert_swarm_secret_files(
    bot: RunningBot, services: Services, docker_api: docker.APIClient, mounts: dict[str, Any]
) -> None:
    """Swarm: no bind of the secrets folder; each file a Swarm secret on a tmpfs,
    read-only, 0400, owned by the bot's uid."""
    # The only bind: the bot's writable state (and its two tmpfs volumes).
    assert set(mounts) == {"/state", "/tmp", "/home/bot"}, mounts
    assert {m["Type"] for t, m in mounts.items() if t != "/state"} == {"volume"}
    state = mounts["/state"]
    assert state["RW"] is True
    assert state["Type"] == "bind"
    names = sorted([*bot.secrets, "gateway_token"])
    seen = exec_in(docker_api, bot.container, f"stat -c '%a %u %g %n' {SECRETS_TARGET}/*")
    assert seen.code == 0, seen
    assert set(seen.out.splitlines()) == {
        f"400 {bot.uid} {bot.uid} {SECRETS_TARGET}/{name}" for name in names
    }
    mounted = exec_in(docker_api, bot.container, "cat /proc/mounts").out.splitlines()
    for name in names:
        line = next(m for m in mounted if m.split()[1] == f"{SECRETS_TARGET}/{name}")
        assert line.split()[2] == "tmpfs", line
        assert line.split()[3].split(",")[0] == "ro", line
    for script, result in tamper_with_secrets(docker_api, bot):
        assert result.code != 0, script
        assert any(
            word in result.err for word in ("Read-only file system", "Permission denied", "busy")
        ), (script, result)
    readable = exec_in(docker_api, bot.container, f"cat {SECRETS_TARGET}/channel_token")
    assert readable.out == bot.secrets["channel_token"]  # positive control


# -- resources, logs, restarts --------------------------------------------------------


def test_resource_limits_and_log_rotation_follow_settings(
    bot: RunningBot, settings: Settings, docker_api: docker.APIClient
) -> None:
    assert_limits(docker_api, bot, settings.limits, swarm=settings.runtime == "swarm")


def test_pids_limit_is_enforced(
    bot: RunningBot, settings: Settings, docker_api: docker.APIClient
) -> None:
    # Fork short-lived sleepers until the kernel refuses; then read the pids
    # controller's own count of refusals, using shell builtins only (no fork).
    result = exec_in(
        docker_api,
        bot.container,
        "f=/sys/fs/cgroup/pids.events; [ -f $f ] || f=/sys/fs/cgroup/pids/pids.events;"
        " (i=0; while [ $i -lt 1000 ]; do"
        " sleep 2 >/dev/null 2>&1 & i=$((i + 1)); echo $i; done);"
        ' while read -r key value; do echo "$key=$value"; done < $f',
    )
    assert "can't fork" in result.err, result
    counts = [int(line) for line in result.out.split() if line.isdigit()]
    assert counts, result
    assert max(counts) < settings.limits.pids
    events = dict(line.split("=", 1) for line in result.out.split() if "=" in line)
    assert int(events["max"]) >= 1, result  # refused by the pids limit, nothing else


def test_restart_policy_unless_stopped_brings_a_bot_back(
    bot: RunningBot, services: Services, docker_api: docker.APIClient
) -> None:
    if is_swarm(services):  # Swarm restarts the bot as a new task of its service
        service = docker_api.inspect_service(bot.container)  # type: ignore[no-untyped-call]
        policy = service["Spec"]["TaskTemplate"]["RestartPolicy"]
        assert policy["Condition"] == "any"
        assert services.runtime.status(bot.container).restart_count == 0
        first = resolve_container(docker_api, bot.container)
        exec_in(docker_api, bot.container, "kill -TERM 1")

        def came_back() -> bool:
            now = services.runtime.status(bot.container)
            return bool(now.running and (now.restart_count or 0) >= 1 and now.container_id)

        wait_for(came_back, timeout=30, interval=0.2)
        assert services.runtime.status(bot.container).container_id != first
        return
    info = inspect(docker_api, bot)
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert info["RestartCount"] == 0
    # The bot's main process ends (the stand-in exits 0 on SIGTERM): the engine restarts it.
    exec_in(docker_api, bot.container, "kill -TERM 1")

    def restarted() -> bool:
        now = docker_api.inspect_container(bot.container)
        return bool(now["RestartCount"] >= 1 and now["State"]["Running"])

    wait_for(restarted, timeout=20, interval=0.2)


def test_limits_are_configurable(
    make_services: MakeServices, settings: Settings, docker_api: docker.APIClient
) -> None:
    limits = Settings.from_env(
        {
            "BOTMAKER_BOT_MEMORY": "96m",
            "BOTMAKER_BOT_CPUS": "0.25",
            "BOTMAKER_BOT_PIDS": "40",
            "BOTMAKER_BOT_TMP_SIZE": "16m",
            "BOTMAKER_LOG_MAX_SIZE": "2m",
            "BOTMAKER_LOG_MAX_FILE": "5",
        }
    ).limits
    assert limits == BotLimits(
        memory_bytes=96 * 1024**2,
        cpus=0.25,
        pids=40,
        tmp_bytes=16 * 1024**2,
        log_max_size="2m",
        log_max_file=5,
    )
    for name in ("memory_bytes", "cpus", "pids", "tmp_bytes", "log_max_size", "log_max_file"):
        assert getattr(limits, name) != getattr(settings.limits, name), name
    svc = make_services(settings, limits=limits)
    custom = create_bot(svc, "custom")
    assert_limits(docker_api, custom, limits, swarm=is_swarm(svc))
