# Shared by the scripts: a .venv with kuledger installed, and the local services.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

ensure_venv() {  # ensure_venv [extras]: create .venv and install kuledger into it
    local extras="${1:-}"
    local stamp=".venv/.installed${extras:+-$extras}"
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing kuledger${extras:+[$extras]} into .venv ..." >&2
        .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
    export PATH="$ROOT/.venv/bin:$PATH"
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
