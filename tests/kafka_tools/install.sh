#!/bin/sh
# Install Debian's kcat (librdkafka as the distribution builds it: 2.0.2 on bookworm) for the tests that
# point a distribution's client at `serve` (tests/test_kafka_kcat.py runs this through a session fixture
# when `kcat` is missing). Debian's librdkafka predates 2.6.1, so it also exercises the SCRAM nonce quirk.
set -eu
if command -v kcat >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends kcat >/dev/null
kcat -V
