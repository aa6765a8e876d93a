#!/usr/bin/env bash
# The download a user gets: the release binary without its symbol tables (kept apart in a
# .debug file that debuggers find through the binary's debug link), then compressed.
# usage: scripts/package.sh [OUT_DIR]       (default dist/; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/drgan-studio-target}"
# The same build as the tests' (one profile, one set of dependency features): no rebuild.
cargo test --release --no-run >/dev/null
BIN="$CARGO_TARGET_DIR/release/drgan-studio"
mkdir -p "$OUT"
cp "$BIN" "$OUT/drgan-studio"
objcopy --only-keep-debug "$OUT/drgan-studio" "$OUT/drgan-studio.debug"
strip --strip-all "$OUT/drgan-studio"
objcopy --add-gnu-debuglink="$OUT/drgan-studio.debug" "$OUT/drgan-studio"
tar -C "$OUT" -cJf "$OUT/drgan-studio-linux-x86_64.tar.xz" drgan-studio
size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
echo "built:      $(size "$BIN")  $BIN"
echo "stripped:   $(size "$OUT/drgan-studio")  $OUT/drgan-studio"
echo "debug info: $(size "$OUT/drgan-studio.debug")  $OUT/drgan-studio.debug"
echo "download:   $(size "$OUT/drgan-studio-linux-x86_64.tar.xz")  $OUT/drgan-studio-linux-x86_64.tar.xz"
