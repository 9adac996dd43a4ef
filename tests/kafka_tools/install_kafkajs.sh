#!/bin/sh
# Install kafkajs 2.2.4 (the Node.js client: its own protocol code, no librdkafka) into
# tests/kafka_tools/node/ for tests/test_kafkajs.py, and Debian's Node.js first when `node` is missing.
# npm's registry is reachable from the CI machine; nothing is fetched at test run time after this.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        SUDO="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -f "$HERE/node/node_modules/kafkajs/package.json" ]; then
    mkdir -p "$HERE/node"
    npm install --prefix "$HERE/node" --no-audit --no-fund --no-save --silent kafkajs@2.2.4
fi
node -e "console.log('kafkajs', require('$HERE/node/node_modules/kafkajs/package.json').version)"
