# Shared helpers for deploy/scripts/*.sh. Source it; do not execute it.
# Keeps the per-service scripts short: logging, state dir, locking, run-as-user.

# Machine-wide state (not per clone) so a second checkout or CI run reuses the
# same servers instead of fighting over ports.
ZHIHUI_STATE_DIR="${ZHIHUI_STATE_DIR:-/var/tmp/zhihui}"
ZHIHUI_CACHE_DIR="${ZHIHUI_CACHE_DIR:-$HOME/.cache/zhihui}"

log() { printf '[%s] %s\n' "${LOG_TAG:-zhihui}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as another OS user when we are root (servers refuse or should
# not run as root); otherwise run it as ourselves.
as_user() {
  local user="$1"; shift
  if is_root && [ "$user" != root ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# Serialise start/stop across concurrent invocations (two CI runs in two
# clones). The lock is released when the script exits (fd closes). Daemons
# started while holding it must get `9>&-`, or they inherit and keep the lock.
take_lock() {
  local name="$1"
  mkdir -p "$ZHIHUI_STATE_DIR"
  chmod 755 "$ZHIHUI_STATE_DIR" 2>/dev/null || true
  exec 9>"$ZHIHUI_STATE_DIR/.$name.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "timed out waiting for lock $ZHIHUI_STATE_DIR/.$name.lock"
  fi
}

# apt-get install once, running apt-get update first (fresh CI images have an
# empty package index).
apt_install() {
  is_root || die "need root to apt-get install $*; install it yourself and rerun"
  log "installing $* with apt-get"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

# need_cmd CMD [PACKAGE]: install PACKAGE (default CMD) when CMD is missing.
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_install "${2:-$1}"; }
