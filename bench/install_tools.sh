#!/usr/bin/env bash
# Tools the replicator benchmark compares against (bench/replicator.py), installed only when missing:
#   rclone  — Debian package (apt-get; the machine is root).
#   aws     — awscli v1 from PyPI, into the project venv through the `bench` extra (`make bench` does it).
# Usage: bash bench/install_tools.sh        (idempotent; prints what it installed)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v rclone >/dev/null 2>&1; then
    echo "installing rclone (Debian package)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rclone >/dev/null
fi
rclone version | head -1

if [ ! -x .venv/bin/aws ]; then
    echo "installing awscli (bench extra)"
    .venv/bin/pip install -q -c constraints.txt -e '.[bench]'
fi
.venv/bin/aws --version
