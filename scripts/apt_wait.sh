# shellcheck shell=bash
# Sourced by the scripts that install Debian packages: `apt_install PKG…` installs them, waiting for
# the dpkg lock when another install (apt, dpkg, unattended-upgrades, another of these scripts)
# holds it, instead of failing at once.
#
#   source "$(dirname "$0")/apt_wait.sh"
#   apt_install postgresql            # waits up to SEC_APT_LOCK_TIMEOUT seconds (default 600)
#
# Two kinds of lock guard /var/lib/dpkg/lock-frontend: apt and dpkg take a POSIX (fcntl) lock,
# which apt-get itself waits for with `-o DPkg::Lock::Timeout=N`; these scripts also take an
# flock(2) lock on the same file for the whole install, so that two of them never interleave
# `apt-get update` and `apt-get install` (the two kinds do not see each other on Linux, hence
# both). `apt-get update` runs only when a package has no install candidate yet.

APT_LOCK_FILE=${SEC_APT_LOCK_FILE:-/var/lib/dpkg/lock-frontend}

_apt_log() { echo "apt_install: $*" >&2; }

_apt_holders() {  # "pid (command) kind" of each process holding the lock (POSIX: apt/dpkg; FLOCK: us)
  lslocks -r -n -o PID,COMMAND,TYPE,PATH 2>/dev/null |
    awk -v f="$APT_LOCK_FILE" '$NF == f { printf "%s%s (%s) %s", sep, $1, $2, $3; sep = ", " }'
}

_apt_gave_up() {  # _apt_gave_up SECONDS
  _apt_log "gave up after $1 s: another package install still holds the dpkg lock $APT_LOCK_FILE" \
    "(held by: $(_apt_holders)); wait for it to finish and run this again, or set" \
    "SEC_APT_LOCK_TIMEOUT (seconds) higher"
}

_apt_get() {  # _apt_get FD SECONDS_LEFT ARGS…: apt-get (without our lock's FD), which waits itself
  local fd=$1 left=$2 err rc=0
  shift 2
  if lslocks -r -n -o TYPE,PATH 2>/dev/null | grep -qx "POSIX $APT_LOCK_FILE"; then
    _apt_log "waiting up to ${left} s for the dpkg lock $APT_LOCK_FILE (held by: $(_apt_holders))"
  fi
  err=$(mktemp)
  # a daemon a package's postinst starts must not inherit (and so keep) our flock
  (exec {fd}>&- && apt-get -o "DPkg::Lock::Timeout=$left" "$@" >/dev/null 2>"$err") || rc=$?
  cat "$err" >&2
  if ((rc)) && grep -qE "Could not get lock|Unable to acquire the dpkg" "$err"; then
    rc=75
  fi
  rm -f "$err"
  return "$rc"
}

_apt_left() {  # _apt_left TIMEOUT START: seconds left, never negative
  local left=$(($1 - (SECONDS - $2)))
  echo $((left > 0 ? left : 0))
}

apt_install() {  # apt_install PKG…
  (($#)) || return 0
  local timeout=${SEC_APT_LOCK_TIMEOUT:-600} start=$SECONDS fd rc=0 p
  export DEBIAN_FRONTEND=noninteractive
  exec {fd}>>"$APT_LOCK_FILE"
  if ! flock -n "$fd"; then
    _apt_log "waiting up to ${timeout} s for the dpkg lock $APT_LOCK_FILE (held by: $(_apt_holders))"
    if ! flock -w "$timeout" "$fd"; then
      exec {fd}>&-
      _apt_gave_up "$timeout"
      return 1
    fi
    _apt_log "got the dpkg lock after $((SECONDS - start)) s"
  fi
  for p in "$@"; do  # package lists only when a package has no install candidate yet
    if ! apt-cache policy "$p" 2>/dev/null | grep -q "Candidate: [^(]"; then
      _apt_get "$fd" "$(_apt_left "$timeout" "$start")" update -qq || rc=$?
      ((rc == 75)) || rc=0  # an offline update is not fatal: the install names what is missing
      break
    fi
  done
  if ((rc == 0)); then
    _apt_get "$fd" "$(_apt_left "$timeout" "$start")" install -y -qq --no-install-recommends "$@" || rc=$?
  fi
  exec {fd}>&-
  if ((rc == 75)); then
    _apt_gave_up "$timeout"
    return 1
  fi
  return "$rc"
}
