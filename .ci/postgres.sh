#!/usr/bin/env bash
# A throwaway local PostgreSQL for the audit tests (tests marked `postgres`).
#
#   eval "$(bash .ci/postgres.sh)"      # start; prints export lines, everything else on stderr
#   pytest -m postgres ...              # tests read PEXBOT_TEST_POSTGRES_URL
#   bash .ci/postgres.sh stop           # stop it and delete its directory
#
# Installs Debian's PostgreSQL only if no server binaries are found. The cluster lives in a fresh
# temporary directory, listens on 127.0.0.1 on a free port (and a socket in that directory), and
# runs as a non-root user (`postgres`, or the caller when not root): PostgreSQL refuses root.
# Durability is switched off: the data is thrown away.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local dir
  for dir in "${PEXBOT_PG_BINDIR:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

install_postgres() {
  log "PostgreSQL not found; installing Debian's postgresql-15"
  [ "$(id -u)" -eq 0 ] || { log "need root to apt-get install postgresql-15"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql-15 >&2 \
    || apt-get install -y -qq --no-install-recommends postgresql >&2
}

free_port() {
  python3 - <<'EOF'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

# Run a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

start() {
  local bindir dir port
  bindir=$(find_bindir) || { install_postgres; bindir=$(find_bindir); }
  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pexbot-postgres.XXXXXX")
  chown "$owner" "$dir"
  chmod 700 "$dir"
  port=$(free_port)

  as_owner "$bindir/initdb" -D "$dir/data" -U pexbot -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; log "initdb failed"; exit 1; }
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >&2 || { cat "$dir/server.log" >&2; log "server did not start"; exit 1; }
  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U pexbot pexbot_test >&2

  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"
  echo "export PEXBOT_TEST_POSTGRES_URL=postgresql://pexbot@127.0.0.1:$port/pexbot_test"
  echo "export PEXBOT_TEST_POSTGRES_DIR=$dir"
}

stop() {
  local dir=${1:-${PEXBOT_TEST_POSTGRES_DIR:-}} bindir
  [ -n "$dir" ] && [ -d "$dir/data" ] || { log "nothing to stop"; return 0; }
  bindir=$(find_bindir)
  owner=$(stat -c %U "$dir")
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf -- "$dir"
  log "stopped and removed $dir"
}

case "${1:-start}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) log "usage: $0 [start|stop [DIR]]"; exit 2 ;;
esac
