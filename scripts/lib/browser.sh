# shellcheck shell=bash
# ensure_browser: Debian's Chromium (apt-get when missing) and npm's playwright-core under
# tests/ui/node_modules (from its lock file), for the UI test and the UI benchmark.
# Run from the repository root.
# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_browser() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  if [ ! -d tests/ui/node_modules/playwright-core ]; then
    npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
  fi
}
