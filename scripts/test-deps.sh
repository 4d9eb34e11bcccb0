#!/usr/bin/env bash
# Install what the test suite needs beyond Python packages: the npm Telegram Bot API
# emulator (telegram-test-api) and Debian's chromium for the browser tests (Playwright
# drives it with executable_path; it never downloads a browser). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

emulator=tests/telegram_emulator
if [[ ! -f "$emulator/node_modules/telegram-test-api/package.json" ]]; then
  echo "Installing the Telegram Bot API emulator (npm telegram-test-api)"
  npm install --prefix "$emulator" --no-audit --no-fund --loglevel=error >/dev/null
fi

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "Installing Debian's chromium for the browser tests"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: chromium is missing and this user cannot install it (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
