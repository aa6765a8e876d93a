#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool of this workplace): a short probe of the
# training step at two batch sizes, a training run of the model the studio ships at the faster
# one, then the paper preset's benchmark; everything lands in $OUT for the trip back. That
# machine has no Rust toolchain: the release binary travels xz-compressed in .gpu/, the Vulkan
# loader as Debian packages in .gl/ (/work/.library/device/README.md). From the repository root:
#   bash scripts/gpu_run.sh TRAIN_SECONDS [train options…]
set -u
TRAIN_SECONDS=${1:?usage: gpu_run.sh TRAIN_SECONDS [train options…]}; shift
. scripts/gpu_vulkan.sh
BIN=/tmp/drgan-studio
xz -d -c .gpu/drgan-studio.xz > "$BIN" && chmod +x "$BIN"
mkdir -p /tmp/work && cd /tmp/work || exit 1
quiet() { grep -v XDG_RUNTIME_DIR; }
# Minimal autotuning: the default level's first paper-preset step took minutes on WGSL.
export CUBECL_AUTOTUNE_LEVEL=minimal

echo "== probe ($(date +%T))"
timeout 100 "$BIN" bench --device gpu --presets small --batch 64 256 --steps 4 --interactive 10 --no-eval \
  --json "$OUT/bench-small.json" 2>&1 | quiet | tee "$OUT/bench.log"
read -r BATCH STEPS < <(python3 - "$OUT/bench-small.json" "$TRAIN_SECONDS" <<'PY'
import json, sys
try:
    rates = json.load(open(sys.argv[1]))["train_img_per_s"]["small"]
except Exception:
    rates = {"64": 250.0}
batch = max(rates, key=lambda b: rates[b])
print(batch, max(100, int(rates[batch] * float(sys.argv[2]) * 0.65 / int(batch))))
PY
)
echo "== training: batch $BATCH, $STEPS steps ($(date +%T))"
timeout -s TERM $((TRAIN_SECONDS + 40)) "$BIN" train --preset small --batch "$BATCH" --steps "$STEPS" \
  --checkpoint-every $((STEPS / 4)) --eval-every $((STEPS / 2)) --device gpu --seed 0 --out /tmp/run "$@" 2>&1 | quiet | tee "$OUT/train.log"

echo "== paper preset ($(date +%T))"
timeout 80 "$BIN" bench --device gpu --presets paper --batch 64 --steps 3 --interactive 3 --no-eval \
  --json "$OUT/bench-paper.json" 2>&1 | quiet | tee -a "$OUT/bench.log"

echo "== packing ($(date +%T))"
newest=$(ls -d /tmp/run/checkpoints/step-* | sort | tail -n 1)
for old in /tmp/run/checkpoints/step-*; do [ "$old" = "$newest" ] || rm -rf "$old"; done
tar -C /tmp -cf - run | xz -1 -T0 > /tmp/run.tar.xz
split -b 15M /tmp/run.tar.xz "$OUT/run.tar.xz.part-"
ls -la "$OUT"
