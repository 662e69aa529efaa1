#!/usr/bin/env bash
# `make sam-local-docker`: the sample events through `sam local invoke` in Docker, as users run
# them, on a Linux machine with no container registry in reach, from Debian's packages alone.
# Idempotent set-up (as root): Docker, qemu's arm64 emulation for containers, and SAM's base image
# for provided.al2023 on arm64 made locally (a minimal Debian arm64 root, loaded under the name SAM
# looks for); then a Docker engine of the project's own (its data, socket and state under
# target/sam-docker/), the local store of `make sam-local` on the Docker bridge's address, every
# printed `sam local invoke` line run and its answer compared with events/expected.json. The engine
# and the store stop when it ends, however it ends.
#
#   tools/sam-docker.sh            set up what is missing, run and compare (after `make build`)
#   tools/sam-docker.sh --setup    set up only (the engine is stopped again)
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD/target/sam-docker
# The image SAM builds its invoke image on for `Runtime: provided.al2023`, `Architectures: [arm64]`.
image=public.ecr.aws/lambda/provided:al2023-arm64
# What the base image is made of; a change remakes the root and the image. The CA certificates:
# provided.al2023 has them, and without them the SDK's TLS set-up warns at every cold start.
base="--arch=arm64 --variant=minbase --include=ca-certificates bookworm"
label=qapla-webhooks.base
export DOCKER_HOST=unix://$root/docker.sock

say() { echo "sam-local-docker: $*" >&2; }
die() {
  say "$*"
  exit 1
}
elapsed() { echo "$(($(date +%s) - $1)) s"; }

setup_only=false
case "${1:-}" in
  --setup) setup_only=true ;;
  "") ;;
  *) die "usage: tools/sam-docker.sh [--setup]" ;;
esac

if [ "$(uname -s)" != Linux ]; then
  die "this set-up is for Linux; with Docker Desktop run the lines of 'make sam-local' yourself (docs/sam-local.md)"
fi
if [ "$(id -u)" != 0 ]; then
  die "needs root (it installs Debian packages, mounts binfmt_misc and runs a Docker engine of its own); run it as root, or run the lines of 'make sam-local' with your own Docker"
fi
if ! $setup_only && [ ! -x .aws-sam/build/ShipmentsFunction/bootstrap ]; then
  die "no arm64 bootstrap: run make build first"
fi
started=$(date +%s)

# Debian's packages: the engine (20.10), qemu's static emulators with their binfmt entries, and
# debootstrap for the base image.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them (this set-up uses Debian's packages)"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# arm64 containers run under qemu: the kernel must hand aarch64 binaries to it, with the
# interpreter opened at registration (flag F), so that it works inside a container's root too.
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    die "cannot mount binfmt_misc (a container without that privilege cannot run arm64 images)"
fi
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
if ! grep -qx enabled "$entry" 2>/dev/null; then
  update-binfmts --enable qemu-aarch64
fi
grep -qx enabled "$entry" || die "qemu-aarch64 is not registered in binfmt_misc"
grep -q '^flags:.*F' "$entry" || die "qemu-aarch64 is registered without flag F: arm64 containers would not find the emulator"

# The engine, started by hand: no iptables rules (nothing is published beyond this machine; the
# containers reach the store on the bridge's own address), its own data root and socket.
mkdir -p "$root/data" "$root/run"
dockerd_pid=""
stop() {
  local rc=$?
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill "$dockerd_pid"
    for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -9 "$dockerd_pid"
    say "Docker engine stopped"
  fi
  exit $rc
}
trap stop EXIT
trap 'say "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM
if [ -e "$root/dockerd.pid" ] && kill -0 "$(cat "$root/dockerd.pid")" 2>/dev/null; then
  # Left by a run that was killed hard: this run adopts it, and stops it at the end.
  dockerd_pid=$(cat "$root/dockerd.pid")
else
  t=$(date +%s)
  dockerd --iptables=false --ip6tables=false --data-root "$root/data" --exec-root "$root/run" \
    --pidfile "$root/dockerd.pid" -H "$DOCKER_HOST" >"$root/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited: see $root/dockerd.log"
    sleep 1
  done
  docker version >/dev/null 2>&1 || die "dockerd did not answer within 60 s: see $root/dockerd.log"
  say "Docker engine $(docker version --format '{{.Server.Version}}') up in $(elapsed "$t") (target/sam-docker/dockerd.log)"
fi

# SAM's base image, which no registry can give here: a minimal Debian arm64 root (its glibc runs
# the bootstraps cargo lambda builds), with the directories of provided.al2023 and its environment,
# loaded as an arm64 image (`docker import` would label it amd64, and SAM's build would then run
# for the wrong platform).
if [ "$(docker image inspect "$image" --format "{{index .Config.Labels \"$label\"}}" 2>/dev/null)" != "$base" ]; then
  rootfs=$root/rootfs
  if [ "$(cat "$rootfs/.complete" 2>/dev/null)" != "$base" ]; then
    t=$(date +%s)
    say "debootstrap $base (a few minutes, once)"
    rm -rf "$rootfs.tmp"
    # shellcheck disable=SC2086 # $base is the argument list
    debootstrap $base "$rootfs.tmp" >"$root/debootstrap.log" 2>&1 ||
      die "debootstrap failed: see $root/debootstrap.log"
    mkdir -p "$rootfs.tmp/var/task" "$rootfs.tmp/var/runtime" "$rootfs.tmp/opt"
    rm -rf "$rootfs.tmp/var/cache/apt/archives"/*.deb "$rootfs.tmp/var/lib/apt/lists"/*
    echo "$base" >"$rootfs.tmp/.complete"
    rm -rf "$rootfs"
    mv "$rootfs.tmp" "$rootfs"
    say "debootstrap done in $(elapsed "$t")"
  fi
  t=$(date +%s)
  archive=$root/image
  rm -rf "$archive"
  mkdir -p "$archive"
  tar --numeric-owner --exclude=./.complete --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$rootfs" -cf "$archive/layer.tar" .
  diff=$(sha256sum "$archive/layer.tar" | cut -d' ' -f1)
  cat >"$archive/config.json" <<EOF
{"architecture":"arm64","variant":"v8","os":"linux",
 "config":{"Env":["PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin","LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib","LANG=en_US.UTF-8","TZ=:/etc/localtime","LAMBDA_TASK_ROOT=/var/task","LAMBDA_RUNTIME_DIR=/var/runtime"],
  "WorkingDir":"/var/task","Labels":{"$label":"$base"}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},
 "history":[{"created_by":"debootstrap $base (tools/sam-docker.sh)"}]}
EOF
  config=$(sha256sum "$archive/config.json" | cut -d' ' -f1)
  mv "$archive/config.json" "$archive/$config.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$config" "$image" >"$archive/manifest.json"
  tar -C "$archive" -cf - manifest.json "$config.json" layer.tar | docker load >/dev/null
  rm -rf "$archive"
  docker image inspect "$image" --format '{{.Architecture}}' | grep -qx arm64 || die "$image was loaded, but not as arm64"
  # SAM's invoke image is built on the base once; one built on an older base would stay in use.
  docker images --format '{{.Repository}}:{{.Tag}}' "${image%%:*}" | { grep -- '-rapid-' || true; } | xargs -r docker rmi >/dev/null
  say "$image made locally and loaded (arm64) in $(elapsed "$t")"
fi
say "set-up done in $(elapsed "$started")"
$setup_only && exit 0

# The containers reach this machine as host.docker.internal (--add-host ...:host-gateway: the
# bridge's gateway): the store listens there, on no other address.
gateway=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
# A bridge the engine made itself may record no gateway in its IPAM settings: its interface holds
# the address then.
if [ -z "$gateway" ]; then
  bridge=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}')
  gateway=$(ip -4 -o addr show "${bridge:-docker0}" 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }')
fi
[ -n "$gateway" ] || die "the Docker bridge has no gateway address"
# No registry: SAM builds its invoke image on the local base image instead of pulling it first.
export SAM_SKIP_PULL_IMAGE=1 SAM_CLI_TELEMETRY=0
BIND=$gateway cargo run -q -p integration-tests --bin local -- --sam --docker
