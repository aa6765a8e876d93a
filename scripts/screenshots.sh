#!/usr/bin/env bash
# Opens the real studio window under Xvfb once per view and saves a screenshot of each into
# docs/images/ (the window saves it itself once everything on show has loaded, then closes).
# Needs: xvfb (xvfb-run) and a Vulkan driver (Mesa's lavapipe on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/drgan-studio-target}"
cargo build --release --quiet
for view in faces explore train; do
    xvfb-run -a -s "-screen 0 1400x900x24" \
        "$CARGO_TARGET_DIR/release/drgan-studio" window --view "$view" --run assets/default-run \
        --screenshot "docs/images/studio-$view.png"
    echo "docs/images/studio-$view.png"
done
xvfb-run -a -s "-screen 0 1400x900x24" \
    "$CARGO_TARGET_DIR/release/drgan-studio" window --view evaluate --evaluate --screenshot docs/images/studio-evaluate.png
echo docs/images/studio-evaluate.png
