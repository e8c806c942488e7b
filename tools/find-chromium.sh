#!/usr/bin/env bash
# Print the path of a Chromium for the end-to-end tests, installing Debian's
# package when running as root; otherwise one clear line and exit 1.
# Order: $AUTHFETCH_CHROMIUM, a Playwright-managed Chromium, /usr/bin/chromium,
# `apt-get install chromium` (root only).
set -u
fail() { echo "authfetch set-up: $*" >&2; exit 1; }

if [ -n "${AUTHFETCH_CHROMIUM:-}" ]; then
  [ -x "$AUTHFETCH_CHROMIUM" ] || fail "AUTHFETCH_CHROMIUM=$AUTHFETCH_CHROMIUM is not an executable file"
  echo "$AUTHFETCH_CHROMIUM"; exit 0
fi
managed=$(ls -d "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome 2>/dev/null | sort -V | tail -n 1)
if [ -n "$managed" ] && [ -x "$managed" ]; then echo "$managed"; exit 0; fi
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "authfetch set-up: installing Debian's chromium for the end-to-end tests (log: .chromium-install.log)" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get update -q >.chromium-install.log 2>&1 \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >>.chromium-install.log 2>&1 \
     && [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium; exit 0
  fi
  fail "apt-get install chromium failed (is a Debian mirror reachable?); see .chromium-install.log"
fi
fail "no Chromium found: install it (Debian: sudo apt-get install chromium) or set AUTHFETCH_CHROMIUM=/path/to/chrome"
