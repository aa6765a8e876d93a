#!/usr/bin/env bash
# The window on a real GPU (issue 12): the studio's headless tests painted by the GPU, the
# model on the window's own wgpu device (tests/gpu.rs, --ignored), the heat map shader, and the
# slider latency and UI frame time (`cargo bench --bench studio` with the window's device).
#
# Here, on the development machine:   bash scripts/gpu_window.sh pack [studio heatmap gpu bench]
#   strips and xz-compresses the named test binaries (and the bench) into .gpu/ (about 28 MB
#   each for studio, gpu and bench, 8 MB for heatmap; the device call carries at most 64 MiB with
#   the working tree, so pack what fits: e.g. `gpu bench` in one call, `studio heatmap` in another).
# On the lent machine (the `device` tool, carry .gpu and .gl):   bash scripts/gpu_window.sh run
#   runs each packed binary from the repository root; everything it prints lands in $OUT.
set -u -o pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
pack)
  shift
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/drgan-studio-target}"
  mkdir -p .gpu
  for name in ${@:-gpu bench}; do
    if [ "$name" = bench ]; then target=(--bench studio); else target=(--test "$name"); fi
    binary=$(cargo test --release "${target[@]}" --no-run --message-format=json |
      python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
    [ -x "$binary" ] || { echo "no built binary for $name"; exit 1; }
    strip -o ".gpu/$name" "$binary" && xz -6 -T0 -f ".gpu/$name" && ls -la ".gpu/$name.xz"
  done
  ;;
run)
  . scripts/gpu_vulkan.sh
  # Some tests name the shipped run by the path the binaries were built at.
  [ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
  export CUBECL_AUTOTUNE_LEVEL=minimal
  failed=0
  for packed in .gpu/*.xz; do
    name=$(basename "$packed" .xz)
    xz -d -c "$packed" > "/tmp/$name" && chmod +x "/tmp/$name"
    echo "== $name ($(date +%T))"
    case "$name" in
      # Budgets inside one 10-minute call: the device's first wgpu step can take minutes.
      bench) STUDIO_BENCH_WINDOW_DEVICE=1 timeout 240 "/tmp/$name" --bench ;;
      gpu) timeout 300 "/tmp/$name" --ignored --nocapture --test-threads 1 ;;
      *) timeout 240 "/tmp/$name" --test-threads 1 ;;
    esac 2>&1 | grep -v XDG_RUNTIME_DIR | tee "${OUT:-/tmp}/$name.log" || failed=1
  done
  exit "$failed"
  ;;
*)
  echo "usage: gpu_window.sh pack [studio heatmap gpu bench] | run"; exit 2 ;;
esac
