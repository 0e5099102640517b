#!/usr/bin/env bash
# `make image`: the container image from the Dockerfile's runtime stage, fed
# with service binaries built here (statically linked glibc) in place of the
# builder stage, so no registry or Rust image is needed. Prints the image name.
#   IMAGE=localhost/icu-monitor:TAG (default: the workspace version)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

services=(patient-service data-service monitor-service)
target=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
image=${IMAGE:-localhost/icu-monitor:$version}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}

command -v podman >/dev/null || apt_install podman
command -v readelf >/dev/null || apt_install binutils
[[ -r /etc/ssl/certs/ca-certificates.crt ]] || apt_install ca-certificates

start=$(date +%s)
# Only the three services: `icu` would link all of them again for nothing the pods run.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
  $(printf -- '-p %s ' "${services[@]}") >&2
echo "release build: $(( $(date +%s) - start ))s" >&2

context=$CARGO_TARGET_DIR/image-context
rm -rf "$context"
mkdir -p "$context/out/usr/local/bin" "$context/out/etc/ssl/certs"
for bin in "${services[@]}"; do
  path=$CARGO_TARGET_DIR/$target/release/$bin
  # A scratch image has no loader and no libc: any INTERP or NEEDED entry would fail at exec.
  if readelf -lW "$path" | grep -q 'Requesting program interpreter' || readelf -dW "$path" | grep -q '(NEEDED)'; then
    echo "$bin is dynamically linked:" >&2; readelf -dW "$path" | grep NEEDED >&2; exit 1
  fi
  cp "$path" "$context/out/usr/local/bin/"
done
cp /etc/ssl/certs/ca-certificates.crt "$context/out/etc/ssl/certs/"
cp -r docker/rootfs/. "$context/out/"

podman build -q -t "$image" --target runtime --build-context "builder=$context" \
  --build-arg "VERSION=$version" \
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -f Dockerfile . >&2
echo "$image"
