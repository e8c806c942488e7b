#!/usr/bin/env bash
# Print the path of an nginx for the documentation's web-server test (tests/docs/), or one
# clear line and exit 1. Order: $AUTHFETCH_NGINX, nginx on PATH, /usr/sbin/nginx, then
# Debian's packages unpacked (not installed: no service starts) into build/nginx/ with
# `apt-get download` + `dpkg -x`. Its stock mime.types is beside it: <root>/etc/nginx/.
set -u
fail() { echo "authfetch set-up: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${AUTHFETCH_NGINX:-}" ]; then
  [ -x "$AUTHFETCH_NGINX" ] || fail "AUTHFETCH_NGINX=$AUTHFETCH_NGINX is not an executable file"
  echo "$AUTHFETCH_NGINX"; exit 0
fi
found=$(command -v nginx 2>/dev/null || true)
if [ -n "$found" ]; then echo "$found"; exit 0; fi
if [ -x /usr/sbin/nginx ]; then echo /usr/sbin/nginx; exit 0; fi
unpacked="$here/build/nginx/usr/sbin/nginx"
if [ -x "$unpacked" ]; then echo "$unpacked"; exit 0; fi
if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if (cd "$work" && apt-get download -q nginx nginx-common >"$here/.nginx-download.log" 2>&1); then
    for deb in "$work"/*.deb; do dpkg -x "$deb" "$here/build/nginx"; done
    if [ -x "$unpacked" ]; then echo "$unpacked"; exit 0; fi
  fi
  fail "could not unpack Debian's nginx (apt-get download nginx nginx-common; see .nginx-download.log)"
fi
fail "no nginx found: install it (Debian: apt-get install nginx) or set AUTHFETCH_NGINX=/path/to/nginx"
