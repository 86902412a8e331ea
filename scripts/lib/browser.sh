# shellcheck shell=bash
# ensure_browser: Debian's Chromium (apt-get when missing) and npm's playwright-core under
# tests/ui/node_modules (from its lock file), for the UI test and the UI benchmark.
# Run from the repository root.
ensure_browser() {
  local sudo_=()
  [ "$(id -u)" = 0 ] || sudo_=(sudo)
  if [ ! -x /usr/bin/chromium ]; then
    if ! "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; then
      "${sudo_[@]}" apt-get update -q
      "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    fi
  fi
  if [ ! -d tests/ui/node_modules/playwright-core ]; then
    npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
  fi
}
