#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on loopback and
# IRONKIT_TEST_POSTGRES set to its DSN; the cluster is stopped and removed
# afterwards whatever the command's outcome. If IRONKIT_TEST_POSTGRES is
# already set, the command runs against that server instead.
set -uo pipefail

if [ -n "${IRONKIT_TEST_POSTGRES:-}" ]; then exec "$@"; fi

PGBIN=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN=$d; done
if [ -z "$PGBIN" ]; then
  echo "with-postgres: no PostgreSQL server binaries found (apt-get install postgresql); PostgreSQL tests will skip"
  exec "$@"
fi

D=$(mktemp -d /tmp/ironkit-pg.XXXXXX)
mkdir -p "$D/data" "$D/sock"
port=$(( 55432 + RANDOM % 1000 ))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port+1)); done

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$D"
chmod 700 "$D/data"

stop() {
  as_pg "$PGBIN/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$D"
}
trap stop EXIT

as_pg "$PGBIN/initdb" -D "$D/data" -U postgres --auth=trust -E UTF8 --no-locale >"$D/initdb.log" 2>&1 || {
  echo "with-postgres: initdb failed:"; cat "$D/initdb.log"; exit 1; }
# Another job may take the chosen port between the check and the start: try
# a few ports before giving up.
started=
for attempt in 1 2 3 4 5; do
  if as_pg "$PGBIN/pg_ctl" -D "$D/data" -l "$D/log" -w -o \
    "-p $port -k $D/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null; then
    started=1; break
  fi
  echo "with-postgres: attempt $attempt on port $port failed: $(tail -n 2 "$D/log" 2>/dev/null | tr '\n' ' ')"
  port=$(( 55432 + RANDOM % 1000 ))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port+1)); done
done
[ -n "$started" ] || { echo "with-postgres: PostgreSQL did not start:"; cat "$D/log"; exit 1; }

export IRONKIT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
export IRONKIT_TEST_PGBIN="$PGBIN"
export IRONKIT_TEST_PGDATA="$D/data"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
rc=$?
exit $rc
