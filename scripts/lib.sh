# Shared set-up steps for scripts/start and scripts/test (sourced, not run).
# Each step checks before it acts, so running twice is cheap; nothing relies on a
# previous run having happened.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.ci/work"
VENV="$ROOT/.venv"
mkdir -p "$WORK"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG... : install the Debian packages that are missing.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# ensure_dockerd: use the running engine, or start Debian's dockerd in the background.
# Sets STARTED_DOCKERD=1 when this script started it.
STARTED_DOCKERD=0
ensure_dockerd() {
    if [ -n "${DOCKER_HOST:-}" ] || docker_answers; then
        docker_answers || die "DOCKER_HOST=$DOCKER_HOST does not answer"
        return 0
    fi
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        as_root systemctl start docker >/dev/null 2>&1 || true
    fi
    if ! docker_answers; then
        say "starting dockerd (log: $WORK/dockerd.log)"
        as_root sh -c "nohup dockerd >'$WORK/dockerd.log' 2>&1 & echo \$! >'$WORK/dockerd.pid'"
        STARTED_DOCKERD=1
    fi
    for _ in $(seq 1 120); do
        docker_answers && return 0
        sleep 0.5
    done
    tail -20 "$WORK/dockerd.log" >&2 || true
    die "the Docker engine did not start"
}

stop_started_dockerd() {
    if [ "$STARTED_DOCKERD" = 1 ] && [ -f "$WORK/dockerd.pid" ]; then
        say "stopping the dockerd this script started"
        as_root kill "$(cat "$WORK/dockerd.pid")" 2>/dev/null || true
        rm -f "$WORK/dockerd.pid"
    fi
}

# ensure_venv: a virtualenv with the locked dependencies (hash-checked) and BotMaker.
ensure_venv() {
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "BotMaker needs Python 3.11 or newer"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install python3-venv
    fi
    local stamp="$VENV/.botmaker-lock"
    local want
    want="$(sha256sum "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-64)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing Python dependencies into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        --require-hashes -r "$ROOT/requirements.lock"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        -e "$ROOT"
    echo "$want" >"$stamp"
}
