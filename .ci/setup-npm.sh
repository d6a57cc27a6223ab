#!/usr/bin/env bash
# Installs the npm packages Crater's docs pages and tests use into cache
# folders OUTSIDE the repository (never committed), only if missing.
#
#   $CRATER_ASSETS (default /usr/local/share/crater/assets): swagger-ui-dist
#     and redoc, which `crater` serves itself under /docs/assets and
#     /redoc/assets so the docs pages work offline (docs/openapi.md).
#   $CRATER_TOOLS (default /usr/local/share/crater/tools): @redocly/cli, the
#     independent OpenAPI 3.1 validator spec/e2e/test_openapi.py runs, and
#     ajv, which checks the server's real error answers against the
#     document's problem schema, and ajv-formats, with which ajv is the
#     reference spec/fuzz/schema_diff.py compares crater.schema to.
#
# Idempotent; a failure here is reported but does not stop the build: the
# server falls back to the CDN and the tests that need a package skip.
set -uo pipefail
ASSETS=${CRATER_ASSETS:-/usr/local/share/crater/assets}
TOOLS=${CRATER_TOOLS:-/usr/local/share/crater/tools}
ASSET_PKGS=(swagger-ui-dist@5.35.0 redoc@2.5.4)
TOOL_PKGS=(@redocly/cli@2.77.0 ajv@8.17.1 ajv-formats@3.0.1 ws@8.18.3)

have() { # dir pkg@version -> 0 when that version is installed there
  local name=${2%@*} want=${2##*@}
  [ -f "$1/node_modules/$name/package.json" ] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
      "$1/node_modules/$name/package.json" "$want"
}

install_into() { # dir pkgs...
  local dir=$1; shift
  local missing=()
  for p in "$@"; do have "$dir" "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v npm >/dev/null || { echo "setup: npm missing, cannot install ${missing[*]}" >&2; return 1; }
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
  echo "setup: npm install ${missing[*]} into $dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${missing[@]}" >/dev/null
}

install_into "$ASSETS" "${ASSET_PKGS[@]}" || echo "setup: docs assets not installed; /docs will use the CDN" >&2
install_into "$TOOLS" "${TOOL_PKGS[@]}" || echo "setup: OpenAPI validator not installed; its test will skip" >&2
exit 0
