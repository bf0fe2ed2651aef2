#!/bin/sh
# deps.sh: install with apt-get whatever TSN needs that is missing
# (Debian 12, as root). Sourced or run by run-demo and run-tests.
set -eu
TSN_PACKAGES="build-essential pkg-config meson ninja-build \
libsodium-dev libzstd-dev libleveldb-dev libuv1-dev libfuse3-dev fuse3 \
python3 python3-pytest clang attr rsync psmisc iproute2 procps"

missing=""
for p in $TSN_PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "deps: installing:$missing" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "deps: need root to apt-get install:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
