#!/usr/bin/env bash
# arm-smoke.sh QEMU BINARY: runs an arm build of posagent under qemu-user:
# -version, -board list, then a short sim-board session against an embedded
# broker (scripts/agentbench -check: every command answered, clean SIGTERM).
# qemu's default sysroot is /, where the armhf/arm64 libc and libasound
# installed by make cross-deps live (Debian multiarch), so no -L is needed.
set -euo pipefail
qemu=$1 bin=$2
echo "== $bin under $qemu"
"$qemu" "$bin" -version
boards=$("$qemu" "$bin" -board list)
grep -q "^rpi" <<<"$boards" || { echo "-board list has no rpi"; exit 1; }
go run ./scripts/agentbench -wrap "$qemu" -agent "$bin" -idle 1s -duration 3s -rate 5 -wire=false -check
