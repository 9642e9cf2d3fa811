#!/usr/bin/env bash
# Local PostgreSQL for development and tests: a private cluster (separate from
# any distro-managed one) on 127.0.0.1:${ZHIHUI_PG_PORT:-55432}.
#   postgres.sh start|stop|status|url
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
LOG_TAG=postgres

PORT="${ZHIHUI_PG_PORT:-55432}"
PG_DIR="$ZHIHUI_STATE_DIR/postgres"
DATA="$PG_DIR/data"
SOCK_DIR="$PG_DIR/run"          # our own socket dir: avoids clashing with /var/run/postgresql
LOGFILE="$PG_DIR/server.log"
APP_USER=zhihui APP_PASSWORD=zhihui
# initdb/pg_ctl refuse to run as root; use the distro's postgres account then.
if is_root; then OS_USER=postgres; else OS_USER="$(id -un)"; fi

url() { echo "postgresql+asyncpg://$APP_USER:$APP_PASSWORD@127.0.0.1:$PORT/zhihui_test"; }

# Locate server binaries (not on PATH on Debian). Prefer the major version the
# existing data dir was created with; else the newest installed.
find_bin() {
  if [ -f "$DATA/PG_VERSION" ] && [ -x "/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin/initdb" ]; then
    PG_BIN="/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin"; return 0
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then PG_BIN="$d"; return 0; fi
  if command -v initdb >/dev/null 2>&1; then PG_BIN="$(dirname "$(command -v initdb)")"; return 0; fi
  return 1
}

ensure_installed() {
  find_bin && return 0
  # The Debian package may also start its own cluster on 5432; ours is separate.
  apt_install postgresql
  find_bin || die "initdb still not found after installing postgresql"
}

pg() { (cd / && as_user "$OS_USER" "$PG_BIN/$1" "${@:2}"); }
ours_running() { [ -f "$DATA/PG_VERSION" ] && pg pg_ctl status -D "$DATA" >/dev/null 2>&1; }
answers() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 3; }
app_psql() { PGPASSWORD="$APP_PASSWORD" "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$APP_USER" "$@"; }

init_cluster() {
  if is_root; then
    id "$OS_USER" >/dev/null 2>&1 || die "OS user $OS_USER missing (normally created by the postgresql package)"
    mkdir -p "$PG_DIR" && chown "$OS_USER": "$PG_DIR"
  fi
  mkdir -p "$PG_DIR"
  chmod 755 "$PG_DIR"
  log "initdb $DATA ($PG_BIN)"
  # peer auth on the socket for the admin account, passwords over TCP;
  # C.UTF-8 always exists on Debian and keeps Chinese text intact.
  pg initdb -D "$DATA" -U "$OS_USER" --encoding=UTF8 --locale=C.UTF-8 \
     --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  echo "include_if_exists = 'zhihui.conf'" | as_user "$OS_USER" tee -a "$DATA/postgresql.conf" >/dev/null
}

# Settings live in their own file, rewritten on every start so a changed
# ZHIHUI_PG_PORT takes effect.
write_conf() {
  as_user "$OS_USER" mkdir -p "$SOCK_DIR"
  as_user "$OS_USER" tee "$DATA/zhihui.conf" >/dev/null <<CONF
# written by deploy/scripts/postgres.sh; edits are overwritten on start
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 200
CONF
}

# Idempotent: role zhihui/zhihui (LOGIN, CREATEDB) and databases zhihui, zhihui_test.
ensure_role_and_dbs() {
  pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U "$OS_USER" -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END \$\$;
SELECT format('CREATE DATABASE %I OWNER $APP_USER', d)
  FROM unnest(ARRAY['zhihui', 'zhihui_test']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL
}

start() {
  take_lock postgres
  ensure_installed
  if answers; then
    if ours_running; then
      ensure_role_and_dbs
      log "reusing running server on 127.0.0.1:$PORT ($DATA)"
      return 0
    fi
    # Not our data dir, but something answers on the port: usable only if our
    # credentials work there.
    if app_psql -d zhihui_test -c 'select 1' >/dev/null 2>&1; then
      log "WARNING: reusing a foreign server on 127.0.0.1:$PORT (not $DATA)"
      return 0
    fi
    die "port $PORT is taken by a server we cannot log in to as $APP_USER; set ZHIHUI_PG_PORT"
  fi
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  write_conf
  log "starting on 127.0.0.1:$PORT (log: $LOGFILE)"
  touch "$LOGFILE"
  if is_root; then chown "$OS_USER": "$LOGFILE"; fi
  # 9>&- : the server must not inherit the lock fd, or it holds the lock forever.
  pg pg_ctl start -D "$DATA" -l "$LOGFILE" -w -t 60 >/dev/null 9>&- \
    || { tail -n 40 "$LOGFILE" >&2; die "pg_ctl start failed"; }
  ensure_role_and_dbs
  log "ready: $(url)"
}

stop() {
  find_bin || { log "not installed"; return 0; }
  take_lock postgres
  if ours_running; then
    pg pg_ctl stop -D "$DATA" -m fast -w -t 60 >/dev/null
    log "stopped"
  else
    log "not running"
  fi
}

status() {
  find_bin || { log "not installed"; return 3; }
  if ours_running; then log "server running, data dir $DATA"; else log "no server running from $DATA"; fi
  if answers; then
    log "127.0.0.1:$PORT answers; url: $(url)"
    app_psql -d zhihui_test -At -c 'select version()' >&2
  else
    log "127.0.0.1:$PORT does not answer"; return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
