#!/usr/bin/env bash
# Set up, then run rofs' main job on the bundled examples: audit them (Kubernetes,
# Compose, Dockerfile), fix copies of them, show the writable-path inventory, and
# generate hardened manifests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
out=examples/out
mkdir -p "$out"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# The audit exits 1 because the examples have findings: that is the point of them.
step rofs audit examples/k8s examples/compose examples/docker || true
# Fix copies of the examples: read-only roots plus the mounts each app needs.
cp examples/k8s/shop.yaml examples/compose/compose.yaml "$out/"
step rofs fix --diff "$out/shop.yaml" || true
step rofs fix "$out/shop.yaml" "$out/compose.yaml" || true
# What is left is the two images no profile knows (the API and the worker): fix leaves them as they
# are, and the audit says how to learn their paths, so this exits 1 too.
step rofs audit "$out/shop.yaml" "$out/compose.yaml" --select RO101,RO102,RO201,RO202,RO203,RO204 || true
# A crash-looping pod's log, explained: the mount it needs and a patch for its manifest.
step rofs explain examples/logs/shop-db.log --app postgres || true
step rofs profiles list
step rofs profiles show postgres --layout official
step rofs generate postgres --format k8s --storage-class standard -o "$out/postgres.k8s.yaml"
step rofs generate redis --format compose -o "$out/redis.compose.yaml"
step rofs generate kafka --image confluentinc/cp-kafka:7.5.0 --format k8s -o "$out/kafka.k8s.yaml"
step rofs generate nginx --format docker-run
step rofs generate inhouse --profile-file examples/inhouse-profile.yaml --format k8s -o "$out/inhouse.k8s.yaml"
printf '\nWrote: %s\n' "$(ls "$out" | tr '\n' ' ')"
step cat "$out/postgres.k8s.yaml"
