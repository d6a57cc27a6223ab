#!/usr/bin/env bash
# Installs what Crater needs to build and test on Debian 12, only if missing.
# Idempotent; run as root (or with sudo available).
set -euo pipefail
PKGS=(build-essential cmake pkg-config libuv1-dev libluajit2-5.1-dev luajit2 node-llhttp
      libssl-dev openssl libsqlite3-dev lua-busted lua-cjson curl wrk python3 ca-certificates
      chromium fonts-dejavu-core clang libclang-rt-14-dev redis-server
      libpq-dev postgresql nginx zlib1g-dev libbrotli-dev python3-websockets libidn2-0)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node.js and npm for the npm packages below: from Debian, unless the machine
# has them already (a Node from elsewhere must not be replaced).
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing nodejs npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# npm packages (docs assets, the OpenAPI validator) go to cache folders
# outside the repository; see the script.
bash "$(dirname "$0")/setup-npm.sh"
