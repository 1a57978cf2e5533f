#!/usr/bin/env bash
# Run the demo app (rxconfig.py at the repo root, app "demo" in demo/demo.py) in prod mode.
# Frontend and backend share one port: $REFLEX_FRONTEND_PORT, else $PORT, else 3000.
# Extra arguments go to `reflex run` (e.g. --loglevel debug). The demo uses SQLite: no services.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
cd "$ROOT"

# only what the demo needs (reflex, the library, argon2, email-validator and ua-parser), not the test tools
ensure_venv demo
ensure_bun
[[ -f rxconfig.py ]] || die "rxconfig.py not found in $ROOT"
[[ -f demo/demo.py ]] || log "warning: demo/demo.py not found; reflex run will fail"

# A restart must never log users out: keep one generated secret for this checkout unless the
# caller provides SESSION_SECRET.
if [[ -z "${SESSION_SECRET:-}" ]]; then
    secret_file="$ROOT/.tools/demo-session-secret"
    if [[ ! -s "$secret_file" ]]; then
        mkdir -p "$ROOT/.tools"
        (umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(32))" >"$secret_file")
    fi
    SESSION_SECRET="$(cat "$secret_file")"
    export SESSION_SECRET
fi

# Tables and demo users are created on first run; show how to sign in.
python -m demo.seed

port="${REFLEX_FRONTEND_PORT:-${PORT:-3000}}"
[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
# Reflex reads REFLEX_FRONTEND_PORT itself as well; --frontend-port pins the port so the URL below
# is the one served (without it Reflex silently moves to the next free port when 3000 is busy).
log "serving the demo at http://localhost:$port (first build takes ~20 s; Ctrl-C stops it)"
exec reflex run --env prod --frontend-port "$port" "$@"
