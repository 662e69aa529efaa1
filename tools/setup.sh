#!/usr/bin/env bash
# Installs what the project needs beyond Rust, idempotently: the Python tools (pinned, in a
# project-local .venv) and the arm64 Rust target for Lambda builds.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the Python tools into .venv (about a minute, once)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
  echo "$want" > .venv/.requirements
fi

if [ "${1:-}" = "--arm64" ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    echo "setup: adding the Rust target aarch64-unknown-linux-gnu" >&2
    if ! timeout 300 rustup target add aarch64-unknown-linux-gnu; then
      echo "setup: could not install the Rust target aarch64-unknown-linux-gnu (rustup could not download it)." >&2
      echo "setup: arm64 Lambda builds need it; run 'rustup target add aarch64-unknown-linux-gnu' where rustup can reach its server." >&2
      exit 1
    fi
  fi
fi
