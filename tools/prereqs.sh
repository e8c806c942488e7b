#!/usr/bin/env bash
# One clear line and exit 1 when a prerequisite of the set-up is missing.
#   tools/prereqs.sh python   Python 3.11+ with venv
#   tools/prereqs.sh node     Node 20+ and npm
set -u
fail() { echo "authfetch set-up: $*" >&2; exit 1; }
case "${1:-}" in
  python)
    py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || fail "no '$py' found: install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
      || fail "$("$py" --version 2>&1) is too old: authfetch needs Python 3.11 or newer"
    "$py" -c 'import venv, ensurepip' 2>/dev/null \
      || fail "'$py' has no venv/ensurepip module: install it (Debian: apt-get install python3-venv)"
    ;;
  node)
    command -v node >/dev/null || fail "no 'node' found: install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
    command -v npm >/dev/null || fail "no 'npm' found: install npm (Debian: apt-get install npm)"
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || fail "Node.js $(node --version) is too old: authfetch needs Node.js 20 or newer"
    ;;
  *) fail "usage: tools/prereqs.sh python|node" ;;
esac
