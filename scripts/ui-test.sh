#!/usr/bin/env bash
# Warren's web UI in a real browser: Debian's Chromium (installed with apt-get when missing)
# driven by playwright-core (npm, installed under tests/ui/node_modules from its lock file).
# Screenshots land in tests/ui/artifacts/.
#
#   scripts/ui-test.sh path/to/warren
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: scripts/ui-test.sh path/to/warren}
. scripts/lib/browser.sh
ensure_browser
rm -rf tests/ui/artifacts
WARREN_BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") \
  timeout 600 node --test --test-concurrency=1 tests/ui/ui.test.mjs
echo "screenshots: tests/ui/artifacts/"
