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
# Python: a venv with `pip install -e .[EXTRA]`, reinstalled when pyproject.toml changes. The test
# script needs the `dev` extra; the demo only `demo` (a venv that has `dev` has `demo` too).
# ---------------------------------------------------------------------------------------------
# _install_venv VENV PYTHON [EXTRA]: create VENV with PYTHON (>= 3.11) if needed and install the
# project with EXTRA (default dev). The stamp file records the extra that was installed.
_install_venv() {
    local venv="$1" py="$2" extra="${3:-dev}" stamp="$1/.reflex-session-installed" name have
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

    # Reinstall when pyproject.toml is newer than the stamp, when the stamp's extra does not cover
    # the one asked for (dev covers demo), or when the editable install is gone.
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [[ ! -f "$stamp" || "$ROOT/pyproject.toml" -nt "$stamp" ]] ||
        [[ "$have" != "dev" && "$have" != "$extra" ]] ||
        ! "$venv/bin/python" -c 'import importlib.metadata as m; m.version("reflex-session")' \
            >/dev/null 2>&1; then
        log "pip install -e .[$extra] in $name (first time takes a minute or two)"
        mkdir -p "$TOOLS"
        "$venv/bin/python" -m pip install --disable-pip-version-check -e "${ROOT}[$extra]" \
            >"$TOOLS/pip-$name.log" 2>&1 || {
            grep -v "^WARNING: Location" "$TOOLS/pip-$name.log" | tail -n 30 >&2
            die "pip install -e .[$extra] failed in $name (full output: .tools/pip-$name.log)"
        }
        # a venv that had dev keeps it (pip only adds): it still covers both
        [[ "$have" == "dev" ]] && extra="dev"
        printf '%s\n' "$extra" >"$stamp"
    fi
}

# The main venv ($ROOT/.venv, ${PYTHON:-python3}) with the extra $1 (default dev), first on PATH.
ensure_venv() {
    _install_venv "$ROOT/.venv" "${PYTHON:-python3}" "${1:-dev}"
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
# Private, throwaway PostgreSQL and Redis for the tests: their own data under .tools/, free ports
# on 127.0.0.1, started by the test script and stopped when it ends (scripts/stop.sh stops
# leftovers of a run that was killed). They never touch a server the user already runs: the
# system cluster, port 5432, port 6379 and the caller's DATABASE_URL / REDIS_URL are left alone.
# ---------------------------------------------------------------------------------------------
# A random password kept in FILE (0600), made once: local users cannot use the private servers.
_secret_file() {
    [[ -s "$1" ]] || (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(16))' >"$1")
    cat "$1"
}

_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a PostgreSQL binary as an unprivileged user: initdb and postgres refuse to run as root.
_as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

PG_DIR="$TOOLS/postgres"
# As root the server runs as Debian's `postgres` user, which must be able to reach its folder:
# when a parent of the checkout is private, the cluster lives under /tmp instead (same per-checkout
# name, so later runs find it).
_pg_dir() {
    if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$TOOLS" 2>/dev/null; then
        PG_DIR="/tmp/reflex-session-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)/postgres"
    fi
}

start_postgres() {
    _pg_dir
    ensure_apt postgresql
    local version bin data="$PG_DIR/data" port password
    version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
    [[ -n "$version" ]] || die "no PostgreSQL server under /usr/lib/postgresql"
    bin="/usr/lib/postgresql/$version/bin"
    mkdir -p "$PG_DIR/run"
    if [[ ! -s "$PG_DIR/password" ]]; then
        rm -rf "$data"  # a cluster from before passwords: made again
    fi
    password="$(_secret_file "$PG_DIR/password")"
    [[ $EUID -eq 0 ]] && chown -R postgres "$PG_DIR"
    if [[ ! -f "$data/PG_VERSION" || "$(cat "$data/PG_VERSION")" != "$version" ]]; then
        log "creating a private PostgreSQL $version cluster in .tools/postgres"
        rm -rf "$data"
        _as_pg "$bin/initdb" -D "$data" -U "$PG_USER" --auth=scram-sha-256 \
            --pwfile="$PG_DIR/password" -E UTF8 --no-sync \
            >"$PG_DIR/initdb.log" 2>&1 || die "initdb failed (see .tools/postgres/initdb.log)"
    fi
    if _as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port="$(sed -n 4p "$data/postmaster.pid")"  # a run that was killed left it running
    else
        port="$(_free_port)"
        log "starting the private PostgreSQL on 127.0.0.1:$port"
        _as_pg "$bin/pg_ctl" -D "$data" -l "$PG_DIR/server.log" -w -t 60 -o \
            "-p $port -k $PG_DIR/run -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || die "PostgreSQL did not start (see .tools/postgres/server.log)"
    fi
    PG_BIN="$bin"
    if ! PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres \
        -qAtX -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -qx 1; then
        PGPASSWORD="$password" "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER" "$PG_DB"
    fi
    export DATABASE_URL="postgresql+psycopg://$PG_USER:$password@127.0.0.1:$port/$PG_DB"
}

stop_postgres() {
    local bin
    [[ -f "$PG_DIR/data/postmaster.pid" ]] || return 0
    bin="${PG_BIN:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin | sort -V | tail -n1)}"
    _as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

REDIS_DIR="$TOOLS/redis"
_redis_cli() {
    REDISCLI_AUTH="$(cat "$REDIS_DIR/password" 2>/dev/null)" redis-cli -h 127.0.0.1 "$@"
}

start_redis() {
    ensure_apt redis-server
    local port password
    mkdir -p "$REDIS_DIR"
    password="$(_secret_file "$REDIS_DIR/password")"
    if [[ -f "$REDIS_DIR/port" ]] && port="$(cat "$REDIS_DIR/port")" &&
        _redis_cli -p "$port" ping 2>/dev/null | grep -qx PONG &&
        [[ "$(_redis_cli -p "$port" config get dir 2>/dev/null | tail -n1)" == "$REDIS_DIR" ]]; then
        :  # ours, left running by a run that was killed
    else
        port="$(_free_port)"
        log "starting the private redis-server on 127.0.0.1:$port"
        redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" \
            --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save "" \
            --appendonly no --requirepass "$password"
        echo "$port" >"$REDIS_DIR/port"
        local i
        for ((i = 0; i < 50; i++)); do
            _redis_cli -p "$port" ping 2>/dev/null | grep -qx PONG && break
            sleep 0.2
        done
        _redis_cli -p "$port" ping 2>/dev/null | grep -qx PONG ||
            die "redis-server did not answer on port $port (see .tools/redis/redis.log)"
    fi
    export REDIS_URL="redis://:$password@127.0.0.1:$port/0"
}

stop_redis() {
    [[ -f "$REDIS_DIR/port" ]] || return 0
    _redis_cli -p "$(cat "$REDIS_DIR/port")" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$REDIS_DIR/port"
}

# ---------------------------------------------------------------------------------------------
# A private OpenID Connect provider for the sign-in tests: panva's oidc-provider from the npm
# registry (tests/oidc/provider), on a free port of 127.0.0.1 with a random secret (0600 in
# .tools/oidc). It keeps everything in memory: stopping it forgets every grant.
# ---------------------------------------------------------------------------------------------
OIDC_DIR="$TOOLS/oidc"

ensure_node_oidc() { _npm_ci_if_stale tests/oidc/provider; }

# _http_ok URL: a 2xx answer within a second (python3, not curl: curl may not be installed).
_http_ok() {
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" \
        >/dev/null 2>&1
}

start_oidc_provider() {
    local port secret i
    mkdir -p "$OIDC_DIR"
    secret="$(_secret_file "$OIDC_DIR/secret")"
    stop_oidc_provider  # a provider left by a killed run holds stale grants: start afresh
    port="$(_free_port)"
    log "starting the private OpenID provider on 127.0.0.1:$port"
    (
        cd "$ROOT/tests/oidc/provider" || exit 1
        OIDC_PORT="$port" OIDC_SECRET="$secret" nohup node server.js \
            >"$OIDC_DIR/provider.log" 2>&1 &
        echo $! >"$OIDC_DIR/provider.pid"  # node's own pid: the & applies to it alone
    )
    echo "$port" >"$OIDC_DIR/port"
    for ((i = 0; i < 50; i++)); do
        _http_ok "http://127.0.0.1:$port/.well-known/openid-configuration" && break
        sleep 0.2
    done
    _http_ok "http://127.0.0.1:$port/.well-known/openid-configuration" ||
        die "the OpenID provider did not answer on port $port (see .tools/oidc/provider.log)"
    export OIDC_ISSUER="http://127.0.0.1:$port"
    export OIDC_SECRET="$secret"
}

stop_oidc_provider() {
    [[ -f "$OIDC_DIR/provider.pid" ]] || return 0
    local pid i
    pid="$(cat "$OIDC_DIR/provider.pid")"
    # only our provider: after a reboot the pid may belong to anything
    if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(ps -o args= -p "$pid" 2>/dev/null)" == "node server.js" ]]; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$OIDC_DIR/provider.pid" "$OIDC_DIR/port"
}

# Stop what start_postgres / start_redis / start_oidc_provider started (the test script calls it
# on exit; scripts/stop.sh after a run that was killed).
stop_services() {
    stop_postgres
    stop_redis
    stop_oidc_provider
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
    pg_v="$("${PG_BIN:-/nonexistent}"/postgres --version 2>/dev/null |
        sed -n 's/^postgres (PostgreSQL) \([^[:space:]]*\).*/\1/p' || true)"
    redis_v="$(_redis_cli -p "$(cat "$REDIS_DIR/port" 2>/dev/null || echo 1)" info server 2>/dev/null |
        sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p' || true)"
    {
        echo "--- versions ---"
        echo "python   $(python --version 2>&1 | cut -d' ' -f2) ($(command -v python))"
        echo "reflex   $reflex_v"
        echo "bun      $bun_v (REFLEX_BUN_PATH=${REFLEX_BUN_PATH:-unset})"
        echo "node     $(node --version 2>/dev/null || echo '?')"
        echo "chromium $(awk '{print $2}' <<<"$chromium_v")"
        echo "postgres ${pg_v:-?} (${DATABASE_URL:+${DATABASE_URL%%:*}://…@${DATABASE_URL##*@}})"
        echo "redis    ${redis_v:-?} (${REDIS_URL:+redis://…@${REDIS_URL##*@}})"
        echo "----------------"
    } >&2
}

# ---------------------------------------------------------------------------------------------
# The package as a user gets it: build the wheel and sdist (python -m build, no isolation: the
# backend is in .venv), check their contents (scripts/check_package.py), then install the wheel
# into a clean virtualenv outside the checkout and import it there, with `pip check`. Nothing is
# left behind: the build and the venv live in a temporary folder.
# ---------------------------------------------------------------------------------------------
# (`set -e` does not hold in a function called with `||`: every step says `|| return 1` itself.)
_check_package_in() {
    local tmp="$1"
    python -m build --no-isolation --outdir "$tmp/dist" "$ROOT" >"$tmp/build.log" 2>&1 || {
        tail -n 20 "$tmp/build.log" >&2
        log "error: python -m build failed"
        return 1
    }
    python "$ROOT/scripts/check_package.py" "$tmp/dist" || return 1
    python -m venv "$tmp/venv" || return 1
    "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$tmp"/dist/*.whl >"$tmp/pip.log" 2>&1 || {
        tail -n 20 "$tmp/pip.log" >&2
        log "error: pip install of the built wheel failed"
        return 1
    }
    "$tmp/venv/bin/python" -m pip check --disable-pip-version-check >&2 || return 1
    # from a folder with no checkout in it, so the import can only find the installed copy
    (cd "$tmp" && "$tmp/venv/bin/python" -c '
import pathlib, reflex_session, reflex_session.reflex as layer
here = pathlib.Path(reflex_session.__file__).parent
assert "site-packages" in str(here), here
for name in ("session_core.js", "session_client.js"):
    assert (here / "reflex" / name).is_file(), name
print(f"package check: reflex_session {reflex_session.__version__} imports from a clean venv")
') || return 1
}

check_package() {
    local tmp rc=0
    tmp="$(mktemp -d)"
    _check_package_in "$tmp" || rc=$?
    rm -rf "$tmp"
    return "$rc"
}
