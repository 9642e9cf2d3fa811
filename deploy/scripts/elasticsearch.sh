#!/usr/bin/env bash
# Local single-node Elasticsearch for development and tests, from the
# integ-test zip on Maven Central (no bundled JDK; we pick a JDK >= 21).
#   elasticsearch.sh start|stop|status|url
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
LOG_TAG=elasticsearch

VERSION="${ZHIHUI_ES_VERSION:-9.2.0}"
PORT="${ZHIHUI_ES_PORT:-59200}"
TRANSPORT_PORT="${ZHIHUI_ES_TRANSPORT_PORT:-59300}"
HEAP="${ZHIHUI_ES_HEAP:-512m}"
START_TIMEOUT="${ZHIHUI_ES_START_TIMEOUT:-180}"   # seconds; 2-core CI boxes are slow
ZIP="$ZHIHUI_CACHE_DIR/elasticsearch-$VERSION.zip"
ES_HOME="$ZHIHUI_STATE_DIR/elasticsearch-$VERSION"
PIDFILE="$ES_HOME/elasticsearch.pid"
CLUSTER=zhihui
LOGFILE="$ES_HOME/logs/$CLUSTER.log"
BASE="http://127.0.0.1:$PORT"
# Elasticsearch refuses to run as root: use a dedicated system account then.
if is_root; then ES_USER=zhihui-es; else ES_USER="$(id -un)"; fi

url() { echo "$BASE"; }

# Small JSON reader so we need nothing beyond python3: jget KEY.PATH < json
jget() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }

# Java major version of a JDK dir (from its release file, else `java -version`).
java_major() {
  local v
  v="$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$1/release" 2>/dev/null || true)"
  [ -n "$v" ] || v="$("$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')"
  v="${v#1.}"; echo "${v%%[.+-]*}"
}

# ES 9 needs Java 21+. Honour ZHIHUI_ES_JAVA_HOME; else scan /usr/lib/jvm,
# preferring Temurin, then the newest major.
find_java() {
  if [ -n "${ZHIHUI_ES_JAVA_HOME:-}" ]; then JAVA_DIR="$ZHIHUI_ES_JAVA_HOME"; return 0; fi
  local need=21 d real major pref best=""
  [ "${VERSION%%.*}" -ge 9 ] || need=17
  for d in /usr/lib/jvm/*; do
    [ -x "$d/bin/java" ] || continue
    real="$(readlink -f "$d")"
    major="$(java_major "$real")"
    [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge "$need" ] || continue
    case "$real" in *temurin*) pref=1 ;; *) pref=0 ;; esac
    best+="$pref $major $real"$'\n'
  done
  JAVA_DIR="$(printf '%s' "$best" | sort -k1,1n -k2,2n | tail -n 1 | cut -d' ' -f3-)"
  [ -n "$JAVA_DIR" ] || die "no JDK >= $need under /usr/lib/jvm (set ZHIHUI_ES_JAVA_HOME)"
}

ensure_user() {
  is_root || return 0
  id "$ES_USER" >/dev/null 2>&1 && return 0
  log "creating system user $ES_USER"
  useradd --system --no-create-home --home-dir "$ZHIHUI_STATE_DIR" --shell /usr/sbin/nologin "$ES_USER"
}

ensure_zip() {
  [ -s "$ZIP" ] && return 0
  need_cmd mvn maven
  log "fetching elasticsearch $VERSION integ-test zip from Maven Central"
  mkdir -p "$ZHIHUI_CACHE_DIR"
  local tmp; tmp="$(mktemp -d "$ZHIHUI_CACHE_DIR/.fetch.XXXXXX")"
  # Run from the temp dir so a pom.xml in the caller's cwd is not picked up.
  (cd "$tmp" && mvn -q -B -Dstyle.color=never dependency:copy \
      "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION:zip" \
      "-DoutputDirectory=$tmp" >&2) || { rm -rf "$tmp"; die "mvn fetch failed"; }
  mv "$tmp/elasticsearch-$VERSION.zip" "$ZIP"   # atomic: never leave a half zip in the cache
  rm -rf "$tmp"
}

ensure_unpacked() {
  if [ ! -x "$ES_HOME/bin/elasticsearch" ]; then
    log "unpacking into $ES_HOME"
    local tmp; tmp="$(mktemp -d "$ZHIHUI_STATE_DIR/.es-unpack.XXXXXX")"
    unzip -q "$ZIP" -d "$tmp" || { rm -rf "$tmp"; die "unzip of $ZIP failed (delete it to refetch)"; }
    rm -rf "$ES_HOME"
    mv "$tmp/elasticsearch-$VERSION" "$ES_HOME"
    rm -rf "$tmp"
  fi
  # ES writes data/, logs/ and config/ (keystore) under its home.
  if is_root && [ "$(stat -c %U "$ES_HOME")" != "$ES_USER" ]; then
    chown -R "$ES_USER": "$ES_HOME"
  fi
}

# Rewritten on every start so env changes (ports, heap) take effect.
write_config() {
  as_user "$ES_USER" tee "$ES_HOME/config/elasticsearch.yml" >/dev/null <<YML
# written by deploy/scripts/elasticsearch.sh; edits are overwritten on start
cluster.name: $CLUSTER
node.name: zhihui-local
discovery.type: single-node          # no cluster formation; also skips bootstrap checks
network.host: 127.0.0.1              # loopback only
http.port: $PORT
transport.port: $TRANSPORT_PORT
xpack.security.enabled: false        # plain http, no auth for local/test use
# shared CI disks may be fairly full; do not go read-only on watermarks
cluster.routing.allocation.disk.threshold_enabled: false
# let tests clean up with wildcard index deletes (e.g. zhihui_test_*)
action.destructive_requires_name: false
YML
  as_user "$ES_USER" tee "$ES_HOME/config/jvm.options.d/zhihui.options" >/dev/null <<OPTS
-Xms$HEAP
-Xmx$HEAP
OPTS
}

running_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Version of whatever answers on our port; empty if nothing does. Not `GET /`:
# the integ-test zip lacks the rest-root module, so `/` answers 405.
node_version() {
  curl -sf -m 5 "$BASE/_nodes/_local?filter_path=nodes.*.version" 2>/dev/null \
    | python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin)["nodes"].values()))["version"])' \
      2>/dev/null || true
}

wait_healthy() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -sf -m 15 "$BASE/_cluster/health?wait_for_status=yellow&timeout=10s" >/dev/null 2>&1; then
      return 0
    fi
    if [ -z "$(running_pid)" ] && [ -z "$(node_version)" ]; then
      log "process exited during startup"; break
    fi
    sleep 2
  done
  log "not healthy after ${START_TIMEOUT}s; last lines of $LOGFILE:"
  tail -n 60 "$LOGFILE" >&2 2>/dev/null || true
  [ -s "$ES_HOME/logs/launch.out" ] && tail -n 30 "$ES_HOME/logs/launch.out" >&2
  return 1
}

start() {
  take_lock elasticsearch
  need_cmd curl; need_cmd unzip
  local v; v="$(node_version)"
  if [ -n "$v" ]; then
    [ "$v" = "$VERSION" ] || die "port $PORT already serves Elasticsearch $v, wanted $VERSION; stop it or set ZHIHUI_ES_PORT"
    wait_healthy || die "running node on $BASE is not healthy"
    log "reusing running node $v on $BASE"
    return 0
  fi
  if [ -n "$(running_pid)" ]; then
    # Our process exists but HTTP is not up yet (another start still booting).
    wait_healthy || die "node (pid $(running_pid)) did not become healthy"
    log "reusing node on $BASE"; return 0
  fi
  find_java
  ensure_user
  ensure_zip
  ensure_unpacked
  write_config
  log "starting $VERSION on $BASE with Java $(java_major "$JAVA_DIR") ($JAVA_DIR), heap $HEAP"
  rm -f "$PIDFILE"
  # -d daemonises once the node has started; 9>&- keeps the lock fd out of it.
  if ! (cd "$ES_HOME" && as_user "$ES_USER" env -u JAVA_HOME ES_JAVA_HOME="$JAVA_DIR" \
          "$ES_HOME/bin/elasticsearch" -d -p "$PIDFILE" >"$ES_HOME/logs/launch.out" 2>&1 9>&-); then
    tail -n 30 "$ES_HOME/logs/launch.out" >&2
    tail -n 60 "$LOGFILE" >&2 2>/dev/null || true
    die "elasticsearch failed to start"
  fi
  wait_healthy || die "elasticsearch did not become healthy"
  log "ready: $BASE (pid $(running_pid))"
}

stop() {
  take_lock elasticsearch
  local pid; pid="$(running_pid || true)"
  if [ -z "$pid" ]; then log "not running"; return 0; fi
  kill "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || { log "stopped"; return 0; }; sleep 1; done
  log "still running after 60s; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true
}

# Smoke check: node version, health, and which built-in analyzers exist
# (the integ-test zip ships only a few modules, so some may be missing).
status() {
  local v; v="$(node_version)"
  if [ -z "$v" ]; then log "nothing answers on $BASE"; return 3; fi
  log "Elasticsearch $v on $BASE (pid $(running_pid || echo '?'))"
  log "health: $(curl -sf -m 10 "$BASE/_cluster/health" | jget status)"
  local a out
  for a in whitespace standard simple keyword stop; do
    out="$(curl -s -m 10 -H 'Content-Type: application/json' "$BASE/_analyze" \
            -d "{\"analyzer\":\"$a\",\"text\":\"清华 大学 Think-Tank\"}")"
    log "analyzer $a: $(printf '%s' "$out" | python3 -c 'import json,sys
d=json.load(sys.stdin)
print(" | ".join(t["token"] for t in d["tokens"]) if "tokens" in d else "MISSING (" + d["error"]["reason"] + ")")')"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
