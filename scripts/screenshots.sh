#!/usr/bin/env bash
# `make screenshots`: Chromium as `make test` installs it, then scripts/screenshots.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
apt_ensure chromium chromium chromium-driver
exec .venv/bin/python scripts/screenshots.py "$@"
