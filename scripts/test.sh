#!/usr/bin/env bash
# The whole test suite: installs/starts what the tests need, then ruff, mypy, the browser code's
# lint and unit tests (ESLint, node --test in tests/js) and pytest: the whole suite on the main
# Python, then the non-browser suite on every other supported Python the machine offers.
# Usage: scripts/test.sh [pytest args...]     (works from any directory; idempotent)
# With pytest args, only the main Python runs them.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
cd "$ROOT"

start=$SECONDS
# The tests use only the private servers started below, never one the caller points at.
unset DATABASE_URL REDIS_URL REFLEX_REDIS_URL OIDC_ISSUER OIDC_SECRET
trap stop_services EXIT
# All Debian packages in one apt transaction; the helpers below then find them installed.
ensure_apt postgresql redis-server chromium chromium-driver fonts-liberation
ensure_venv
ensure_extra_venvs
ensure_bun
ensure_chromium
start_postgres
start_redis
ensure_node_interop
ensure_node_browser
ensure_node_oidc
start_oidc_provider
log "set-up done in $((SECONDS - start))s"
print_versions

log "ruff check"
ruff check .
log "ruff format --check"
ruff format --check .
log "mypy"
mypy
log "package: build the wheel and sdist, check them, install the wheel into a clean venv"
check_package
log "eslint (reflex_session/reflex/*.js, demo/*.js, tests/js, tests/oidc/provider)"
(cd tests/js && npm run --silent lint)
log "node --test (tests/js)"
(cd tests/js && npm run --silent test)
rc=0
outputs=$(mktemp -d)
pids=()
if (($# == 0)) && ((${#EXTRA_VENVS[@]} > 0)); then
    # the same code on the other interpreters (the browser tests run once, on the main one),
    # started now beside the main run at the lowest CPU priority: they fill the time the browser
    # tests spend waiting for servers and pages, and yield the CPU whenever the main run wants
    # it. One process each; each test names its own tables, key prefixes and channels, so they
    # share the private servers safely. Their output follows the main run's, one by one.
    # On any exit (Ctrl-C, a failure) they stop before the servers they use.
    trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$outputs"; stop_services' EXIT
    for i in "${!EXTRA_VENVS[@]}"; do
        venv=${EXTRA_VENVS[$i]}
        log "pytest --ignore=tests/e2e ($("$venv/bin/python" --version 2>&1)): started, niced"
        nice -n 19 "$venv/bin/python" -m pytest --ignore=tests/e2e -q -p no:cacheprovider \
            >"$outputs/$i.log" 2>&1 &
        pids+=($!)
    done
fi
log "pytest $* ($(python --version 2>&1))"
pytest "$@" || rc=$?
if ((rc == 5)); then
    log "error: pytest collected no tests (exit code 5): treating as a failure"
fi
for i in "${!pids[@]}"; do
    extra=0
    wait "${pids[$i]}" || extra=$?
    log "pytest --ignore=tests/e2e ($("${EXTRA_VENVS[$i]}/bin/python" --version 2>&1)):" \
        "exit code $extra"
    cat "$outputs/$i.log"
    ((extra == 0)) || rc=$extra
done
rm -rf "$outputs"
exit "$rc"
