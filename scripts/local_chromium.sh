#!/usr/bin/env bash
# Debian's Chromium, for the service page's browser test (sec_assets_tests/serve/test_page.py drives it
# headless through Playwright with executable_path=/usr/bin/chromium).
#
#   scripts/local_chromium.sh      # install Debian's `chromium` if the binary is missing; print its path
#
# Playwright's own browser download (`playwright install`) is not used: it fetches from a CDN that
# compute nodes and offline machines cannot reach; Debian's package comes from the same mirror as the
# rest of the system. Installing needs root. The binary: SEC_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
# shellcheck source=apt_wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_wait.sh"

BIN=${SEC_CHROMIUM:-/usr/bin/chromium}
log() { echo "local_chromium: $*" >&2; }

if [[ ! -x $BIN ]]; then
  log "installing chromium (Debian)"
  apt_install chromium >&2
fi
if [[ ! -x $BIN ]]; then
  log "no $BIN after installing Debian's chromium (set SEC_CHROMIUM to the binary's path)"
  exit 1
fi
log "$("$BIN" --version 2>/dev/null || echo "$BIN")"
echo "$BIN"
