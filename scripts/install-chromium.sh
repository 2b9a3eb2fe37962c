#!/bin/sh
# Installs Debian's chromium for the web end-to-end tests (web/e2e), if it
# is not there yet. Needs root; never prompts. The tests find the browser at
# /usr/bin/chromium (or $BULKREFUND_CHROMIUM) and skip, saying so, without it.
set -eu
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-chromium: needs root (apt-get install chromium)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y chromium fonts-noto-cjk
