#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the ledger tests in DIR and print its URL on stdout.
#   DOLIRELANCE_TEST_PG_URL=$(scripts/start-test-postgres.sh DIR)
# Idempotent: if DIR already holds a running server, print its URL again.
# Stop it with scripts/stop-test-postgres.sh DIR. Everything else goes to stderr or DIR/log.
set -euo pipefail

dir=${1:?usage: start-test-postgres.sh DIR}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# initdb refuses to run as root: run the server as nobody then.
run() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; fi

url() { echo "postgresql+psycopg://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

if [ -f "$dir/port" ] && run "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  url
  exit 0
fi

if [ ! -f "$dir/data/PG_VERSION" ]; then
  run "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >&2
fi

# A free port on the loopback interface.
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
  > "$dir/port"
port=$(cat "$dir/port")

run "$pg_bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/log" \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" start >&2
url
