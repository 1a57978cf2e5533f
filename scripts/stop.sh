#!/usr/bin/env bash
# Stop the private PostgreSQL and Redis that scripts/test.sh starts (it stops them itself when it
# ends; this is for a run that was killed). Touches nothing else. Idempotent.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
_pg_dir
stop_services
log "private test servers stopped"
