#!/usr/bin/env bash
# Headless Chromium for the dashboard tests: Debian's `chromium` package.
# Idempotent: does nothing when `chromium` is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

fail() {
  echo "install_chromium.sh: $*" >&2
  echo "install_chromium.sh: install Debian's 'chromium' package by hand (apt-get install chromium) and re-run." >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: this script needs Debian or Ubuntu"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "not root and sudo not found: cannot install chromium"
  SUDO="sudo"
fi

echo "install_chromium.sh: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update || fail "apt-get update failed"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
  || fail "apt-get install chromium failed"

command -v chromium >/dev/null 2>&1 || fail "chromium was installed but is not on PATH"
echo "install_chromium.sh: $(chromium --version 2>/dev/null || echo chromium installed)" >&2
