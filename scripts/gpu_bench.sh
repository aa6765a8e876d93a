#!/usr/bin/env bash
# Every GPU figure BENCHMARKS.md asks for, in one call of about 9 minutes at most (its timeouts add
# up to 9.5) on a lent GPU machine
# (the `device` tool of this workplace, /work/.library/device/README.md), which has PyTorch with
# CUDA in its python3 but no Rust toolchain:
#   1. the first training step of a fresh process, cold (no autotune results on disk) and warm
#      (a second process: cubecl keeps its autotune results, here in a folder of our choosing);
#   2. the full D + G step of `small` and `paper` at batch 64 and 256 with GPU kernels per step
#      and the Explore sweep and redraw (`bench --json`), again with burn's own modules for the
#      block instead of the fused one (DRGAN_STUDIO_GPU_BLOCK=burn: the before and after of
#      src/kernels/cube), and each in PyTorch (cuDNN, cudnn.benchmark on) on the same card:
#      the side-by-side table; then the fused block with burn's convolutions only
#      (DRGAN_STUDIO_GPU_CONV=burn: what the autotuned matrix-product convolutions bought);
#   3. this card's tuning results as a bundle ($OUT/gpu-cache.bundle, `gpu-cache export`, taken
#      right after the fused block's figures), which `gpu-cache import` brings to another machine
#      with the same card;
#   4. the opt-in GPU tests (tests/gpu.rs: the window's device shared with the model);
#   5. with `run cuda` instead, 1 to 3 on burn's CUDA backend (`--device cuda`, a build with the
#      default `cuda` feature), beside PyTorch again (about 8 minutes).
#
# The device call carries the working tree and the carried folders within 64 MiB, and the tree
# alone is about 42 MB, so the binaries travel without their embedded weights (the
# `external-weights` build reads them from the tree's assets/) and in two calls:
#
# Here, on the development machine:   bash scripts/gpu_bench.sh pack [spirv]
#   puts the release binary (stripped, xz) and PyTorch's reference step into .gpu/ and the Vulkan
#   loader as a Debian package into .gl/ (both ignored by git), and says whether it all fits.
#   Its kernels are WGSL; `pack spirv` packs a build with the `spirv` feature instead, whose
#   kernels are SPIR-V on a Vulkan card (a second set of burn's crates: its first build is long),
#   so a second call prints the same figures for it. `pack-tests spirv` likewise. Either build
#   has burn's CUDA backend (the default `cuda` feature), so it serves `run` and `run cuda` alike.
# There (carry .gpu and .gl):          bash scripts/gpu_bench.sh run [cuda]   (steps 1 to 3, or 5)
# Then here:                          bash scripts/gpu_bench.sh pack-tests   (.gpu/ holds the
#   gpu test binary instead), and there: bash scripts/gpu_bench.sh run        (step 4)
# Everything printed is also kept in $OUT.
set -u -o pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/drgan-studio-target}"
# The size in bytes of what a device call would carry: the tree git sees, .gpu and .gl.
carried() {
  { git ls-files -z --cached --others --exclude-standard; find .gpu .gl -type f -print0; } |
    xargs -0 stat -c %s 2>/dev/null | awk '{ total += $1 } END { printf "%.1f MiB of 64 MiB\n", total / 1048576 }'
}
# The cargo features of a packed build: the weights read from the tree, and `spirv` if asked for.
features() {
  case "$1" in
  spirv) echo "external-weights spirv" ;;
  "") echo "external-weights" ;;
  *) echo "unknown build '$1' (spirv or nothing)" >&2; exit 2 ;;
  esac
}
# The executable cargo built for `cargo test --release --no-run ARGS…` (the last one listed).
built() {
  cargo test --release --no-run --message-format=json "$@" | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -n 1
}
# PyTorch's step for each preset and batch on this card, into $OUT/torch.log.
torch_on_this_card() {
  step "PyTorch on the same card"
  for preset in small paper; do
    for batch in 64 256; do
      timeout 22 python3 "$ROOT/.gpu/torch_drgan_ref.py" "$preset" "$batch" 10 cuda 2>&1 |
        grep img_per_s | sed "s/^/$preset $batch: /" | tee -a "$OUT/torch.log"
    done
  done
}
# The side-by-side table of `bench --json` FILE against $OUT/torch.log, with the figures of a
# second bench (BEFORE: burn's modules for the block) beside them when given.
side_by_side() {
  python3 - "$1" "$OUT/torch.log" "${2:-}" <<'PY'
import json, re, sys
def read(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError) as error:
        print(f"({path}: {error})")
        return None
ours = read(sys.argv[1])
if ours is None:
    sys.exit(0)
before = read(sys.argv[3]) if sys.argv[3] else None
theirs = {}
for line in open(sys.argv[2]):
    m = re.match(r'(\w+) (\d+): .*"img_per_s": ([0-9.]+)', line)
    if m:
        theirs[(m[1], m[2])] = float(m[3])
print(f"card: {ours['device']}")
header = f"{'preset':<7}{'batch':>6}{'studio img/s':>14}{'PyTorch img/s':>15}{'ratio':>8}{'kernels/step':>14}"
print(header + (f"{'burn block img/s':>18}{'its kernels':>13}" if before else ""))
for preset, rates in ours["train_img_per_s"].items():
    for batch, rate in sorted(rates.items(), key=lambda kv: int(kv[0])):
        torch = theirs.get((preset, batch))
        ratio = f"{rate / torch:.2f}x" if torch else "-"
        kernels = ours["gpu_kernels_per_step"].get(preset, {}).get(batch, "-")
        row = f"{preset:<7}{batch:>6}{rate:>14.1f}{torch or float('nan'):>15.1f}{ratio:>8}{kernels:>14}"
        if before:
            burn_rate = before["train_img_per_s"].get(preset, {}).get(batch, float("nan"))
            burn_kernels = before["gpu_kernels_per_step"].get(preset, {}).get(batch, "-")
            row += f"{burn_rate:>18.1f}{burn_kernels:>13}"
        print(row)
PY
}
case "${1:-}" in
pack)
  feats=$(features "${2:-}") || exit 2
  rm -rf .gpu && mkdir -p .gpu
  cargo test --release --no-run --quiet --features "$feats"
  strip -o .gpu/drgan-studio "$CARGO_TARGET_DIR/release/drgan-studio" && xz -9e -T0 -f .gpu/drgan-studio
  # Back to the normal build, weights embedded (only this crate relinks).
  cargo test --release --no-run --quiet
  cp ../shared/bench/torch_drgan_ref.py .gpu/
  if ! ls .gl/*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1)
  fi
  ls -la .gpu .gl
  echo "a device call would carry $(carried)"
  ;;
pack-tests)
  feats=$(features "${2:-}") || exit 2
  rm -rf .gpu && mkdir -p .gpu
  binary=$(built --features "$feats" --test gpu)
  [ -x "$binary" ] || { echo "no built binary for tests/gpu.rs"; exit 1; }
  strip -o .gpu/gpu "$binary" && xz -9e -T0 -f .gpu/gpu
  cargo test --release --no-run --quiet
  ls -la .gpu
  echo "a device call would carry $(carried)"
  ;;
run)
  OUT=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUT"
  . scripts/gpu_vulkan.sh
  export DRGAN_STUDIO_ASSETS="$PWD/assets"
  if [ -f .gpu/gpu.xz ]; then
    step() { echo "== $1 ($(date +%T))"; }
    step "the GPU tests"
    [ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
    xz -d -c .gpu/gpu.xz > /tmp/gpu-tests && chmod +x /tmp/gpu-tests
    # What `.cargo/config.toml` gives the tests under cargo (burn's default device: the CPU).
    export BURN_DEVICE=flex
    timeout 300 /tmp/gpu-tests --ignored --nocapture --test-threads 1 2>&1 | grep -v XDG_RUNTIME_DIR | tee "$OUT/gpu-tests.log"
    step "done"
    exit 0
  fi
  BIN=/tmp/drgan-studio
  xz -d -c .gpu/drgan-studio.xz > "$BIN" && chmod +x "$BIN"
  ROOT=$PWD
  # A working folder with no Cargo.toml above it, and the autotune results in a folder of our
  # own, as an installed studio keeps them (cubecl's default is <project>/target/environment or
  # ~/.cache/cubecl).
  mkdir -p /tmp/work && cd /tmp/work || exit 1
  export DRGAN_STUDIO_CACHE=/tmp/work/cache
  quiet() { grep -v XDG_RUNTIME_DIR; }
  step() { echo "== $1 ($(date +%T))"; }
  if [ "${2:-}" = cuda ]; then
    # NVRTC, which compiles the CUDA kernels, and the CUDA headers those kernels include come with
    # PyTorch's CUDA wheels here (site-packages/nvidia/*/). cudarc looks for libnvrtc.so by its
    # usual names, so the one of the driver's CUDA major version is linked under that name, and
    # the wheels' include folders are gathered into one CUDA_PATH unless a toolkit is installed.
    sites=$(python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))')
    major=$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9]*' | grep -o '[0-9]*$')
    echo "driver's CUDA: ${major:-unknown}"
    nvrtcs=$(echo "$sites" | while read -r dir; do [ -d "$dir/nvidia" ] && find "$dir/nvidia" -name 'libnvrtc.so*'; done | grep -v builtins)
    nvrtc=$(echo "$nvrtcs" | grep "libnvrtc.so.${major:-x}" | head -n 1)
    nvrtc=${nvrtc:-$(echo "$nvrtcs" | head -n 1)}
    echo "NVRTC: ${nvrtc:-none found} (of: $(echo $nvrtcs))"
    if [ -n "$nvrtc" ]; then
      mkdir -p /tmp/nvrtc && ln -sf "$nvrtc" /tmp/nvrtc/libnvrtc.so
      export LD_LIBRARY_PATH="/tmp/nvrtc:$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    if [ -z "${CUDA_PATH:-}" ] && [ ! -d /usr/local/cuda ]; then
      mkdir -p /tmp/cuda/include
      echo "$sites" | while read -r dir; do
        for include in "$dir"/nvidia/*/include; do [ -d "$include" ] && cp -rsn "$include/." /tmp/cuda/include/; done
      done
      export CUDA_PATH=/tmp/cuda
      echo "CUDA headers: $(find /tmp/cuda/include -name '*.h' | wc -l) from the wheels (cuda_fp16.h: $(find /tmp/cuda/include -name cuda_fp16.h | head -n 1))"
    fi
    step "CUDA: first step, cold"
    timeout 150 "$BIN" bench --device cuda --presets small --batch 64 --steps 2 --interactive 0 --no-eval \
      --json "$OUT/cuda-cold.json" 2>&1 | tee "$OUT/cuda-first-step.log"
    step "CUDA: first step, warm (a second process)"
    timeout 60 "$BIN" bench --device cuda --presets small --batch 64 --steps 2 --interactive 0 --no-eval \
      --json "$OUT/cuda-warm.json" 2>&1 | tee -a "$OUT/cuda-first-step.log"
    step "CUDA: the step, kernels per step and Explore: small and paper at batch 64 and 256"
    timeout 180 "$BIN" bench --device cuda --presets small paper --batch 64 256 --steps 10 --interactive 20 \
      --no-eval --json "$OUT/bench-cuda.json" 2>&1 | tee "$OUT/bench-cuda.log"
    timeout 20 "$BIN" gpu-cache export "$OUT/gpu-cache-cuda.bundle" --name "CUDA $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)" 2>&1 |
      tee "$OUT/gpu-cache.log"
    torch_on_this_card
    side_by_side "$OUT/bench-cuda.json" | tee "$OUT/side-by-side-cuda.txt"
    step "done"
    exit 0
  fi

  step "first step, cold"
  timeout 110 "$BIN" bench --device gpu --presets small --batch 64 --steps 2 --interactive 0 --no-eval \
    --json "$OUT/cold.json" 2>&1 | quiet | tee "$OUT/first-step.log"
  ls -laR "$DRGAN_STUDIO_CACHE" 2>&1 | tee -a "$OUT/first-step.log"
  step "first step, warm (a second process)"
  timeout 45 "$BIN" bench --device gpu --presets small --batch 64 --steps 2 --interactive 0 --no-eval \
    --json "$OUT/warm.json" 2>&1 | quiet | tee -a "$OUT/first-step.log"

  step "the step, kernels per step and Explore: small and paper at batch 64 and 256"
  timeout 180 "$BIN" bench --device gpu --presets small paper --batch 64 256 --steps 10 --interactive 20 \
    --no-eval --json "$OUT/bench.json" 2>&1 | quiet | tee "$OUT/bench.log"
  step "this card's tuning results as one file, for machines with the same card (gpu-cache export)"
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  timeout 20 "$BIN" gpu-cache export "$OUT/gpu-cache.bundle" --name "${card:-unknown card} $(uname -s)" 2>&1 |
    quiet | tee "$OUT/gpu-cache.log"

  step "the same step with burn's modules for the block (before src/kernels/cube)"
  DRGAN_STUDIO_GPU_BLOCK=burn timeout 70 "$BIN" bench --device gpu --presets small paper --batch 64 256 --steps 5 \
    --interactive 0 --no-eval --json "$OUT/bench-burn.json" 2>&1 | quiet | tee "$OUT/bench-burn.log"

  torch_on_this_card
  side_by_side "$OUT/bench.json" "$OUT/bench-burn.json" | tee "$OUT/side-by-side.txt"

  step "the fused block with burn's convolutions only (DRGAN_STUDIO_GPU_CONV=burn)"
  DRGAN_STUDIO_GPU_CONV=burn timeout 60 "$BIN" bench --device gpu --presets small paper --batch 64 256 --steps 5 \
    --interactive 0 --no-eval --json "$OUT/bench-conv-burn.json" 2>&1 | quiet | tee "$OUT/bench-conv-burn.log"
  python3 - "$OUT/bench.json" "$OUT/bench-conv-burn.json" <<'PY' | tee -a "$OUT/side-by-side.txt"
import json, sys
tuned, burn = (json.load(open(path)) for path in sys.argv[1:3])
print(f"{'preset':<7}{'batch':>6}{'tuned convs img/s':>19}{'burn convs img/s':>18}")
for preset, rates in tuned["train_img_per_s"].items():
    for batch, rate in sorted(rates.items(), key=lambda kv: int(kv[0])):
        other = burn["train_img_per_s"].get(preset, {}).get(batch, float("nan"))
        print(f"{preset:<7}{batch:>6}{rate:>19.1f}{other:>18.1f}")
PY

  step "done"
  ;;
*)
  echo "usage: gpu_bench.sh pack [spirv] | pack-tests [spirv] | run [cuda]"; exit 2 ;;
esac
