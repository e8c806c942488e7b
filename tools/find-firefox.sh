#!/usr/bin/env bash
# Print the path of a Firefox for the Firefox end-to-end suite, installing Debian's
# firefox-esr when running as root; otherwise one clear line and exit 1.
# Order: $AUTHFETCH_FIREFOX, /usr/bin/firefox-esr, /usr/bin/firefox,
# `apt-get install firefox-esr` (root only).
set -u
fail() { echo "authfetch set-up: $*" >&2; exit 1; }

if [ -n "${AUTHFETCH_FIREFOX:-}" ]; then
  [ -x "$AUTHFETCH_FIREFOX" ] || fail "AUTHFETCH_FIREFOX=$AUTHFETCH_FIREFOX is not an executable file"
  echo "$AUTHFETCH_FIREFOX"; exit 0
fi
for candidate in /usr/bin/firefox-esr /usr/bin/firefox; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "authfetch set-up: installing Debian's firefox-esr for the Firefox suite (log: .firefox-install.log)" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get update -q >.firefox-install.log 2>&1 \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q firefox-esr >>.firefox-install.log 2>&1 \
     && [ -x /usr/bin/firefox-esr ]; then
    echo /usr/bin/firefox-esr; exit 0
  fi
  fail "apt-get install firefox-esr failed (is a Debian mirror reachable?); see .firefox-install.log"
fi
fail "no Firefox found: install it (Debian: sudo apt-get install firefox-esr) or set AUTHFETCH_FIREFOX=/path/to/firefox"
