# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Source it; do not run it.
#
# Every helper is idempotent: on a fresh Debian 12 machine it installs what is missing, on a
# machine where everything is in place it only checks and returns quickly. Progress goes to
# stderr. Only PyPI, the npm registry and Debian's packages are reachable here, so nothing
# below downloads from anywhere else (bun comes from the npm registry, the browser from Debian).

if [[ -z "${BASH_VERSION:-}" ]]; then
    echo "scripts/_lib.sh needs bash" >&2
    return 1
fi

# Repository root, from this file's own location (works from any cwd).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

# Pinned tool versions. Reflex 0.10.1 needs bun >= 1.4.4 (reflex_base/constants/installer.py).
BUN_VERSION="1.4.5"
PG_DB="reflex_session_test"
PG_USER="reflex_session"
PG_PASSWORD="reflex_session"  # local test server on 127.0.0.1 only
REDIS_PORT=6379

# Skip npm's slow registry probe; the public registry is the only one reachable anyway.
export NPM_CONFIG_REGISTRY="https://registry.npmjs.org/"
export NPM_CONFIG_UPDATE_NOTIFIER=false

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Run a command as root (we are root on these machines; fall back to sudo elsewhere).
_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ---------------------------------------------------------------------------------------------
# Python: a venv with `pip install -e .[dev]`, reinstalled when pyproject.toml changes.
# ---------------------------------------------------------------------------------------------
# _install_venv VENV PYTHON: create VENV with PYTHON (>= 3.11) if needed and install the project.
_install_venv() {
    local venv="$1" py="$2" stamp="$1/.reflex-session-installed" name
    local check='import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'
    name="$(basename "$venv")"

    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "$check" 2>/dev/null; then
        command -v "$py" >/dev/null 2>&1 || die "$py not found; install Python >= 3.11"
        "$py" -c "$check" ||
            die "Python >= 3.11 needed, but $py is $("$py" -c 'import platform; print(platform.python_version())')"
        log "creating $name with $("$py" --version 2>&1)"
        "$py" -m venv --clear "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip \
            2>/dev/null || log "warning: could not upgrade pip in $name; going on"
        rm -f "$stamp"
    fi

    # Reinstall when pyproject.toml is newer than the stamp, or when the editable install is gone.
    if [[ ! -f "$stamp" || "$ROOT/pyproject.toml" -nt "$stamp" ]] ||
        ! "$venv/bin/python" -c 'import importlib.metadata as m; m.version("reflex-session")' \
            >/dev/null 2>&1; then
        log "pip install -e .[dev] in $name (first time takes a minute or two)"
        mkdir -p "$TOOLS"
        "$venv/bin/python" -m pip install --disable-pip-version-check -e "${ROOT}[dev]" \
            >"$TOOLS/pip-$name.log" 2>&1 || {
            grep -v "^WARNING: Location" "$TOOLS/pip-$name.log" | tail -n 30 >&2
            die "pip install -e .[dev] failed in $name (full output: .tools/pip-$name.log)"
        }
        touch "$stamp"
    fi
}

# The main venv ($ROOT/.venv, ${PYTHON:-python3}), put first on PATH.
ensure_venv() {
    _install_venv "$ROOT/.venv" "${PYTHON:-python3}"
    export VIRTUAL_ENV="$ROOT/.venv"
    export PATH="$ROOT/.venv/bin:$PATH"
    hash -r
}

# Every other supported CPython this machine offers (3.11 and newer, on PATH or under pyenv),
# each in its own $ROOT/.venv-3.X, for the suite's non-browser run on each version. Sets
# EXTRA_VENVS. Versions already covered by the main venv are skipped.
EXTRA_VENVS=()
ensure_extra_venvs() {
    local main minor py found
    main="$("$ROOT/.venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    EXTRA_VENVS=()
    for minor in 11 12 13 14 15; do
        [[ "3.$minor" == "$main" ]] && continue
        found=""
        # pyenv's versions first (its shims on PATH may name a version that is not selected)
        for py in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3."$minor" \
            "$(command -v "python3.$minor" 2>/dev/null)"; do
            if [[ -z "$found" && -x "$py" ]] && "$py" -c 'import venv' >/dev/null 2>&1; then
                found="$py"
            fi
        done
        [[ -n "$found" ]] || continue
        _install_venv "$ROOT/.venv-3.$minor" "$found"
        EXTRA_VENVS+=("$ROOT/.venv-3.$minor")
    done
}

# ---------------------------------------------------------------------------------------------
# bun from the npm registry (Reflex's own installer fetches a script from GitHub: unreachable).
# Reflex finds it through REFLEX_BUN_PATH (Config.bun_path, read via the REFLEX_ env prefix;
# reflex/utils/path_ops.py get_bun_path() falls back to `which bun`, so PATH is set too).
# ---------------------------------------------------------------------------------------------
ensure_bun() {
    local pkg dir="$TOOLS/bun"
    case "$(uname -m)" in
        x86_64 | amd64)
            pkg="@oven/bun-linux-x64"
            # bun's default x64 build needs AVX2; the baseline build runs everywhere.
            grep -qw avx2 /proc/cpuinfo 2>/dev/null || pkg="@oven/bun-linux-x64-baseline"
            ;;
        aarch64 | arm64) pkg="@oven/bun-linux-aarch64" ;;
        *) die "no bun package for $(uname -m)" ;;
    esac
    local bin="$dir/node_modules/$pkg/bin/bun"

    if [[ "$("$bin" --version 2>/dev/null || true)" != "$BUN_VERSION" ]]; then
        command -v npm >/dev/null 2>&1 || die "npm not found (Node.js 20+ with npm is required)"
        log "installing bun $BUN_VERSION ($pkg) from the npm registry into .tools/bun"
        mkdir -p "$dir"
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
            "$pkg@$BUN_VERSION" >/dev/null
        [[ "$("$bin" --version 2>/dev/null || true)" == "$BUN_VERSION" ]] ||
            die "bun did not install to $bin"
    fi

    export REFLEX_BUN_PATH="$bin"
    export BUN_INSTALL_CACHE_DIR="$TOOLS/bun-cache"
    export PATH="${bin%/*}:$PATH"
    hash -r
}

# ---------------------------------------------------------------------------------------------
# Debian packages: install the missing ones only; `apt-get update` at most once per run.
# ---------------------------------------------------------------------------------------------
_APT_UPDATED=0
ensure_apt() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
            missing+=("$p")
    done
    ((${#missing[@]})) || return 0

    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -o DPkg::Lock::Timeout=300) out
    mkdir -p "$TOOLS"
    out="$TOOLS/apt.log"
    if ((!_APT_UPDATED)); then
        log "apt-get update"
        _as_root "${apt[@]}" update >"$out" 2>&1 || {
            tail -n 20 "$out" >&2
            die "apt-get update failed (full output: $out)"
        }
        _APT_UPDATED=1
    fi
    log "apt-get install ${missing[*]}"
    _as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"$out" 2>&1 || {
        tail -n 20 "$out" >&2
        die "apt-get install failed (full output: $out)"
    }
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL from Debian, started with pg_ctlcluster (apt does not start it here).
# ---------------------------------------------------------------------------------------------
PG_VERSION=""
start_postgres() {
    ensure_apt postgresql
    PG_VERSION="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
    [[ -n "$PG_VERSION" ]] || die "no PostgreSQL server under /usr/lib/postgresql"

    if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {f = 1} END {exit !f}'; then
        log "creating PostgreSQL $PG_VERSION cluster"
        _as_root pg_createcluster "$PG_VERSION" main >/dev/null
    fi
    local port status
    port="$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {print $3}')"
    status="$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {print $4}')"
    if [[ "$status" != online* ]]; then
        log "starting PostgreSQL $PG_VERSION on port $port"
        # /run may be a fresh tmpfs without the socket directory.
        _as_root install -d -m 2775 -o postgres -g postgres /var/run/postgresql
        _as_root pg_ctlcluster "$PG_VERSION" main start
    fi
    local i
    for ((i = 0; i < 120; i++)); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 0.5
    done
    pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL did not become ready on port $port"

    # Role and database, created only when missing (psql as the postgres superuser, peer auth).
    (cd / && _as_root runuser -u postgres -- psql -p "$port" -qAtX -v ON_ERROR_STOP=1) <<SQL
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$PG_USER', '$PG_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL

    if [[ -z "${DATABASE_URL:-}" ]]; then
        export DATABASE_URL="postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$PG_DB"
    fi
}

# ---------------------------------------------------------------------------------------------
# Redis from Debian, a private daemon on 127.0.0.1:6379 with its files under .tools/redis.
# ---------------------------------------------------------------------------------------------
start_redis() {
    ensure_apt redis-server
    local dir="$TOOLS/redis"
    if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -qx PONG; then
        log "starting redis-server on 127.0.0.1:$REDIS_PORT"
        mkdir -p "$dir"
        redis-server --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no
        local i
        for ((i = 0; i < 50; i++)); do
            redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -qx PONG && break
            sleep 0.2
        done
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -qx PONG ||
            die "redis-server did not answer on port $REDIS_PORT (see $dir/redis.log)"
    fi
    if [[ -z "${REDIS_URL:-}" ]]; then
        export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    fi
}

# ---------------------------------------------------------------------------------------------
# Debian's Chromium for Playwright (Playwright's own browser download cannot work here).
# ---------------------------------------------------------------------------------------------
ensure_chromium() {
    ensure_apt chromium chromium-driver fonts-liberation
    export PLAYWRIGHT_CHROMIUM_EXECUTABLE="/usr/bin/chromium"
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
}

# ---------------------------------------------------------------------------------------------
# Node packages of the tests, from their committed lock files: `npm ci` only when node_modules is
# missing or older than package.json / package-lock.json.
# ---------------------------------------------------------------------------------------------
_npm_ci_if_stale() {
    local dir="$ROOT/$1"
    local stamp="$dir/node_modules/.package-lock.json"  # written by npm ci
    command -v node >/dev/null 2>&1 || die "node not found (Node.js 20+ is required)"
    if [[ ! -f "$stamp" || "$dir/package-lock.json" -nt "$stamp" || "$dir/package.json" -nt "$stamp" ]]; then
        log "npm ci in $1"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}

# Node's jose, for the interop tests (tests/core/interop).
ensure_node_interop() { _npm_ci_if_stale tests/core/interop; }

# ESLint, for the browser code's lint (tests/js; its unit tests need only node --test).
ensure_node_browser() { _npm_ci_if_stale tests/js; }

# One short block of tool versions (after the ensure_*/start_* helpers have run).
print_versions() {
    local reflex_v bun_v chromium_v pg_v redis_v
    reflex_v="$(python -c 'import importlib.metadata as m; print(m.version("reflex"))' 2>/dev/null || echo '?')"
    bun_v="$("${REFLEX_BUN_PATH:-bun}" --version 2>/dev/null || echo '?')"
    chromium_v="$(/usr/bin/chromium --version 2>/dev/null || echo '?')"
    pg_v="$(/usr/lib/postgresql/"${PG_VERSION:-?}"/bin/postgres --version 2>/dev/null |
        sed -n 's/^postgres (PostgreSQL) \([^[:space:]]*\).*/\1/p' || true)"
    redis_v="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info server 2>/dev/null |
        sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p' || true)"
    {
        echo "--- versions ---"
        echo "python   $(python --version 2>&1 | cut -d' ' -f2) ($(command -v python))"
        echo "reflex   $reflex_v"
        echo "bun      $bun_v (REFLEX_BUN_PATH=${REFLEX_BUN_PATH:-unset})"
        echo "node     $(node --version 2>/dev/null || echo '?')"
        echo "chromium $(awk '{print $2}' <<<"$chromium_v")"
        echo "postgres ${pg_v:-?} (${DATABASE_URL:-DATABASE_URL unset})"
        echo "redis    ${redis_v:-?} (${REDIS_URL:-REDIS_URL unset})"
        echo "----------------"
    } >&2
}
