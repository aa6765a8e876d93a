#!/usr/bin/env bash
# Opens the real studio window under Xvfb once per view and saves a screenshot of each into
# docs/images/ (the window saves it itself once everything on show has loaded, then closes).
# Needs: xvfb (xvfb-run) and a Vulkan driver (Mesa's lavapipe on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/drgan-studio-target}"
# The same build as the tests' (one profile, one set of dependency features): no rebuild.
cargo test --release --no-run --quiet
for view in faces explore train; do
    xvfb-run -a -s "-screen 0 1400x900x24" \
        "$CARGO_TARGET_DIR/release/drgan-studio" window --view "$view" --run assets/default-run \
        --screenshot "docs/images/studio-$view.png"
    echo "docs/images/studio-$view.png"
done
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view evaluate --evaluate --screenshot docs/images/studio-evaluate.png
echo docs/images/studio-evaluate.png
# Explore's difference view as |difference| (the explore screenshot above shows the SSIM map).
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view explore --map difference \
    --screenshot docs/images/studio-difference.png
echo docs/images/studio-difference.png
# Aligning a photo: docs/images/align-photo.png (made by scripts/align_photo.py, which prints
# these landmarks) with its eyes and mouth placed, and the crop the model would get.
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --image docs/images/align-photo.png \
    --landmarks 461.0,163.6,499.5,154.0,491.0,202.1 --screenshot docs/images/studio-align.png
echo docs/images/studio-align.png
# Identity interpolation: Explore's face half way to a person of another synthetic set.
faces=$(mktemp -d)
"$CARGO_TARGET_DIR/release/drgan-studio" synth --out "$faces" --identities 12 --seed 7 --size 64 >/dev/null
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view explore --blend "$faces/id0010/yaw-30_light0.png" \
    --screenshot docs/images/studio-blend.png
rm -rf "$faces"
echo docs/images/studio-blend.png
# Explore in a small window (it scrolls) and a large one (larger faces).
for size in 1024x700 2560x1440; do
    xvfb-run -a -s "-screen 0 2600x1500x24" \
        "$CARGO_TARGET_DIR/release/drgan-studio" window --view explore --size "$size" \
        --screenshot "docs/images/studio-explore-$size.png"
    echo "docs/images/studio-explore-$size.png"
done
# Six photos of a held-out person fused by the built-in multi-image model (no run needed), one
# blurred and one with a box over the eyes (made by scripts/fuse_photos.py).
fuse=$(mktemp -d)
"$CARGO_TARGET_DIR/release/drgan-studio" synth --out "$fuse/set" --identities 3 --seed 7 --size 96 >/dev/null
python3 scripts/fuse_photos.py "$fuse/set/id0002" "$fuse"
# shellcheck disable=SC2046
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view explore --fuse $(ls "$fuse"/*.png) \
    --screenshot docs/images/studio-fuse.png
rm -rf "$fuse"
echo docs/images/studio-fuse.png
# The built-in multi-image model's own run in Train.
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view train --run assets/multi-run --screenshot docs/images/multi-train.png
echo docs/images/multi-train.png
# With COMPARE_RUN=RUN (a `small` run, e.g. the GPU run of docs/SHIPPED-MODEL.md): Explore drawing each face with
# the built-in model and that run side by side.
if [ -n "${COMPARE_RUN:-}" ]; then
    xvfb-run -a -s "-screen 0 1400x900x24" \
        "$CARGO_TARGET_DIR/release/drgan-studio" window --view explore --compare "$COMPARE_RUN" \
        --screenshot docs/images/studio-compare.png
    echo docs/images/studio-compare.png
fi
# The window saves RGBA with an alpha channel opaque everywhere: saved again as RGB with PNG
# optimisation (the same pixels), the pictures weigh about 30 % less, which keeps the repository
# within its size budget (tests/repository_size.rs).
python3 - docs/images/*.png <<'PY'
import os, sys
from PIL import Image
for path in sys.argv[1:]:
    image = Image.open(path)
    image.load()
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        before = os.path.getsize(path)
        image.convert("RGB").save(path, optimize=True)
        print(f"{path}: {before} -> {os.path.getsize(path)} bytes")
PY
