#!/bin/sh
# Install Debian's Chromium for the browser tests (tests/test_http_browser.py calls this when
# /usr/bin/chromium is missing). Playwright drives it with executable_path=/usr/bin/chromium: no browser
# download of Playwright's own (`playwright install` cannot reach its CDN from here, and is never needed).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
