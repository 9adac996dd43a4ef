#!/usr/bin/env bash
# Tools the replicator benchmark compares against (bench/replicator.py), installed only when missing:
#   rclone  — Debian package (apt-get; the machine is root).
#   aws     — awscli v1 from PyPI, into the project venv through the `bench` extra (`make bench` does it).
# Usage: bash bench/install_tools.sh        (idempotent; prints what it installed)
set -euo pipefail
cd "$(dirname "$0")/.."

sh tests/debian/install.sh rclone rclone >/dev/null  # apt, one caller at a time (see the script)
rclone version | head -1

if [ ! -x .venv/bin/aws ]; then
    echo "installing awscli (bench extra)"
    .venv/bin/pip install -q -c constraints.txt -e '.[bench]'
fi
.venv/bin/aws --version
