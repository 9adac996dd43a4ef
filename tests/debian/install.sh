#!/bin/sh
# Install Debian packages for the tests when a command they provide is missing:
#     sh tests/debian/install.sh COMMAND PACKAGE...
# Test workers run side by side and `make test` runs this before them, so every caller takes turns through
# one flock; apt itself waits up to 10 minutes for any other dpkg user (an unattended upgrade, a second
# apt), and a failed attempt is tried again twice. Exits 0 once COMMAND is on PATH.
set -eu
COMMAND=$1
shift
exec 9>"${TMPDIR:-/tmp}/shadowreplica-apt.lock"
flock 9
if command -v "$COMMAND" >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
APT="$SUDO apt-get -o DPkg::Lock::Timeout=600 -qq"
for attempt in 1 2 3; do
    if $APT update && $APT install -y --no-install-recommends "$@" >/dev/null; then
        break
    fi
    if [ "$attempt" = 3 ]; then
        echo "apt-get could not install $*" >&2
        exit 1
    fi
    sleep 10
done
command -v "$COMMAND"
