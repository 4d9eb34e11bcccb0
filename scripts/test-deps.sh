#!/usr/bin/env bash
# Install what the test suite needs beyond Python packages: the npm Telegram Bot API
# emulator (telegram-test-api), Debian's chromium for the browser tests (Playwright
# drives it with executable_path; it never downloads a browser) and Debian's postgresql
# for the store's tests on PostgreSQL. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

emulator=tests/telegram_emulator
if [[ ! -f "$emulator/node_modules/telegram-test-api/package.json" ]]; then
  echo "Installing the Telegram Bot API emulator (npm telegram-test-api)"
  npm install --prefix "$emulator" --no-audit --no-fund --loglevel=error >/dev/null
fi

# PostgreSQL's server for the store's tests on the second engine (tests/postgres.py starts
# a throw-away cluster with its initdb and pg_ctl; nothing runs as a service).
has_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
has_postgres || missing+=(postgresql)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "Installing Debian's ${missing[*]} for the tests"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: ${missing[*]} missing and this user cannot install it (apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
command -v chromium >/dev/null
has_postgres
