# Shared by the scripts: a .venv with kuledger installed, and the local services.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

UV_VERSION=0.13.8  # keep in step with scripts/lib/uv-requirements.txt
# Never fetch a Python: the machine's interpreter is the one we test on.
export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$ROOT/.venv"
# Compile at install, as pip does: the KuCoin SDK's sources carry invalid escape
# sequences, whose SyntaxWarning pytest (warnings are errors) would otherwise
# raise on first import.
export UV_COMPILE_BYTECODE=1

# uv lives outside the checkout, so every clone on a machine shares one install
# (and uv's own download cache, ~/.cache/uv).
TOOLS_DIR="${KULEDGER_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kuledger-tools}"

ensure_uv() {  # a pinned, hash-checked uv in $TOOLS_DIR; sets $UV
    local home="$TOOLS_DIR/uv-$UV_VERSION"
    UV="$home/bin/uv"
    if [ ! -x "$UV" ]; then
        # Clones installing at the same time take turns: one installs, the
        # others then find it (without the lock they removed each other's).
        mkdir -p "$TOOLS_DIR"
        exec 9>"$TOOLS_DIR/.uv-$UV_VERSION.lock"
        flock 9
        if [ ! -x "$UV" ]; then
            echo "installing uv $UV_VERSION (it installs .venv from uv.lock) into $home ..." >&2
            rm -rf "$home"
            "$PYTHON" -m venv "$home"
            "$home/bin/python" -m pip install --quiet --require-hashes --no-deps \
                -r "$ROOT/scripts/lib/uv-requirements.txt"
        fi
        flock -u 9
    fi
}

lock_matches_pyproject() {  # fail with the fix when pyproject.toml and uv.lock disagree
    ensure_uv
    if ! "$UV" lock --check --python "$PYTHON" --quiet; then
        echo "error: uv.lock does not match pyproject.toml (a dependency was added, removed or" >&2
        echo "       its range changed). Run ./scripts/lock and commit uv.lock with the change." >&2
        return 1
    fi
}

ensure_venv() {  # ensure_venv [dev]: .venv holds exactly the versions uv.lock names
    # dev: kuledger with its test tools, and nothing else (an exact sync).
    # no argument: the runtime only; installed dev tools are left alone, so the
    # demo does not strip a developer's venv.
    ensure_uv
    local args=(sync --frozen --python "$PYTHON" --quiet)
    if [ "${1:-}" = dev ]; then args+=(--extra dev); else args+=(--inexact); fi
    "$UV" "${args[@]}"
    export PATH="$ROOT/.venv/bin:$PATH"
}

ensure_unlocked_venv() {  # ensure_unlocked_venv latest|lowest: .venv-<mode>, resolved afresh
    # latest: the newest release inside every range of pyproject.toml;
    # lowest: the oldest release each direct range admits. uv.lock is not touched.
    ensure_uv
    local mode="$1" venv="$ROOT/.venv-$1" resolution=highest
    if [ "$mode" = lowest ]; then resolution=lowest-direct; fi
    echo "resolving the $mode versions inside pyproject.toml's ranges into .venv-$mode ..." >&2
    [ -x "$venv/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$venv"
    "$UV" pip install --quiet --python "$venv/bin/python" --upgrade \
        --resolution "$resolution" -e ".[dev]"
    local direct  # the runtime dependencies' names, read from pyproject.toml
    direct=$("$PYTHON" -c 'import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("|".join(re.match(r"[A-Za-z0-9._-]+", d).group() for d in deps))')
    "$UV" pip list --python "$venv/bin/python" --format freeze | grep -iE "^($direct)==" >&2
    export PATH="$venv/bin:$PATH"
    export KULEDGER_UNLOCKED_ENV="$mode"
}

ensure_postgres() {  # start the machine's PostgreSQL if it is installed and down
    if ! command -v pg_isready >/dev/null 2>&1; then return 0; fi
    if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "starting PostgreSQL ..." >&2
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
}

ensure_redis() {  # start the machine's Redis if it is installed and down
    if ! command -v redis-server >/dev/null 2>&1; then return 0; fi
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
    echo "starting Redis ..." >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
}

ensure_chromium() {  # Debian's chromium, for the explorer's browser tests (Playwright drives it)
    # Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
    if [ -x /usr/bin/chromium ]; then return 0; fi
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "note: /usr/bin/chromium is missing and cannot be installed here; the browser tests skip" >&2
        return 0
    fi
    echo "installing Debian's chromium (the explorer's browser tests) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
}
