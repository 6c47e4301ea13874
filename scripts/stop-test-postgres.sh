#!/usr/bin/env bash
# Stop the PostgreSQL started by scripts/start-test-postgres.sh DIR. Idempotent.
set -euo pipefail

dir=${1:?usage: stop-test-postgres.sh DIR}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -f "$dir/data/PG_VERSION" ] || exit 0

run() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}
if run "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  run "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
fi
