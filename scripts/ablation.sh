#!/usr/bin/env bash
# The recipe ablation of docs/ABLATION.md: one run per recipe variant on the same synthetic set, with
# the same seed and the same budget of steps, each evaluated on 50 synthetic people it never saw.
# usage: scripts/ablation.sh BIN OUT [ROW...]        (env: PRESET STEPS BATCH DEVICE IDS LIGHTS SEED INIT_FROM)
# Rows are the names in the ROWS table below; without any, every row from fresh weights runs
# (ORDER; the rows that continue a trained model are named explicitly, with INIT_FROM). A row whose
# eval.json exists is skipped, so an interrupted ablation continues where it stopped.
# Afterwards: scripts/ablation_table.py OUT [ROW...]
set -euo pipefail
BIN=${1:?usage: ablation.sh BIN OUT [ROW...]}; OUT=${2:?usage: ablation.sh BIN OUT [ROW...]}; shift 2
PRESET=${PRESET:-tiny}; STEPS=${STEPS:-1500}; BATCH=${BATCH:-32}; DEVICE=${DEVICE:-cpu}
IDS=${IDS:-100}; LIGHTS=${LIGHTS:-2}; EVAL_SEED=${EVAL_SEED:-7}; SEED=${SEED:-0}
# The rows that continue a trained model (polish, polish-ctl, from-*) start from this run folder.
INIT_FROM=${INIT_FROM:-}
# The second round: every option that helped on its own, together; then with the TPAMI head,
# and that combination with one more change at a time.
COMBINED="--recipe paper --upsample resize --label-smoothing 0.1 --instance-noise 0.1 --identity-weight 1 --reconstruction-weight 1 --own-pose-fraction 0.25 --lr-decay-start 0.5"
# The studio recipe as it was for the rows below (D judging real and generated faces apart at
# G's learning rate); `--recipe studio` itself judges them as one batch since rows 6 (sj-dlr).
APART="--recipe studio --joint-d-batch false --d-lr-factor 1"
declare -A ROWS=(
  [paper]="--recipe paper"
  [tpami]="--recipe paper --d-head tpami"
  [smoothing]="--recipe paper --label-smoothing 0.1"
  [noise]="--recipe paper --instance-noise 0.1"
  [resize]="--recipe paper --upsample resize"
  [identity]="--recipe paper --identity-weight 1"
  [reconstruction]="--recipe paper --reconstruction-weight 1 --own-pose-fraction 0.25"
  [decay]="--recipe paper --lr-decay-start 0.5"
  [pose3]="--recipe paper --pose-weight 3"
  [posefake]="--recipe paper --pose-fake-class true"
  [combined]="$COMBINED"
  [combined-tpami]="$COMBINED --d-head tpami"
  [ct-posefake]="$COMBINED --d-head tpami --pose-fake-class true"
  [ct-norec]="--recipe paper --upsample resize --label-smoothing 0.1 --instance-noise 0.1 --identity-weight 1 --lr-decay-start 0.5 --d-head tpami"
  [ct-flip]="$COMBINED --d-head tpami --flip"
  [studio]="$APART"
  [st-pose3]="$APART --pose-weight 3"
  [st-proj]="$APART --pose-projection true"
  [st-proj-mis]="$APART --pose-projection true --pose-mismatch-weight 1"
  [st-rec3]="$APART --reconstruction-weight 3"
  [st-own50]="$APART --own-pose-fraction 0.5"
  [st-rec3-own50]="$APART --reconstruction-weight 3 --own-pose-fraction 0.5"
  [st-posemaps]="$APART --pose-maps true"
  [st-g1]="$APART --g-steps-when-d-strong 1"
  [st-aug]="$APART --d-augment all"
  [st-augreal]="$APART --d-augment realness"
  [st-warm]="$APART --d-warmup 500"
  [st-ttur]="--recipe studio --joint-d-batch false --d-lr-factor 2"
  [st-posesoft]="$APART --pose-label-sigma 0.5"
  [st-rec10]="$APART --reconstruction-weight 10"
  [st-rec30]="$APART --reconstruction-weight 30"
  [st-edge]="$APART --edge-weight 10"
  [st-percep]="$APART --perceptual-weight 1"
  [st-paperhead]="$APART --d-head paper"
  [st-patch]="$APART --patch-critic true"
  [st-joint]="--recipe studio --d-lr-factor 1"
  [tpami-joint]="--recipe paper --d-head tpami --joint-d-batch true"
  [sj-dlr]="--recipe studio"
  [sj-augreal]="--recipe studio --d-lr-factor 1 --d-augment realness"
  [sj-patch]="--recipe studio --d-lr-factor 1 --patch-critic true"
  [sj-pose3]="--recipe studio --pose-weight 3"
  [sj-posesoft]="--recipe studio --pose-label-sigma 0.5"
  [sj-flip]="--recipe studio --flip"
  [sj-posemaps]="--recipe studio --pose-maps true"
  [sj-teacher]="--recipe studio --pose-teacher-weight 1"
  [sj-teacher3]="--recipe studio --pose-teacher-weight 3"
  [sj-late]="--recipe studio --pose-teacher-weight 1 --pose-teacher-start 0.75"
  [polish]="--recipe polish --init-from $INIT_FROM"
  [polish-ctl]="--recipe studio --lr 1e-4 --init-from $INIT_FROM"
  # People per batch in multi-image training (docs/MULTI-IMAGE.md): the same trained
  # model continued single-image, or in groups of 6 or 2 photos of one person; BATCH sets how
  # many people a batch holds (BATCH / 6 or BATCH / 2).
  [from-single]="--recipe studio --init-from $INIT_FROM"
  [from-multi6]="--recipe studio --multi --images-per-id 6 --init-from $INIT_FROM"
  [from-multi2]="--recipe studio --multi --images-per-id 2 --init-from $INIT_FROM"
  # Groups of 6 in a mixed batch: 2 groups, the rest single photos of other people.
  [from-mixed6]="--recipe studio --multi --images-per-id 6 --groups-per-batch 2 --init-from $INIT_FROM"
  # The same with D's real faces a batch of their own, drawn apart from G's groups.
  [from-multi6-dapart]="--recipe studio --multi --images-per-id 6 --d-real-apart true --init-from $INIT_FROM"
  [from-mixed6-dapart]="--recipe studio --multi --images-per-id 6 --groups-per-batch 2 --d-real-apart true --init-from $INIT_FROM"
)
ORDER=(paper tpami smoothing noise resize identity reconstruction decay pose3 posefake combined combined-tpami ct-posefake ct-norec ct-flip studio st-pose3 st-proj st-proj-mis st-rec3 st-own50 st-rec3-own50 st-posemaps st-g1 st-aug st-augreal st-warm st-ttur st-posesoft st-rec10 st-rec30 st-edge st-percep st-paperhead st-patch st-joint tpami-joint sj-dlr sj-augreal sj-patch sj-pose3 sj-posesoft sj-flip sj-posemaps sj-teacher sj-teacher3 sj-late)
mkdir -p "$OUT"
for row in "${@:-${ORDER[@]}}"; do
  run="$OUT/$row"
  if [[ ${ROWS[$row]} == *--init-from* && -z $INIT_FROM ]]; then echo "$row continues a trained model: set INIT_FROM=RUN" >&2; exit 1; fi
  [ -f "$run/eval.json" ] && { echo "$row: done before"; continue; }
  rm -rf "$run"
  echo "$row: training ($(date +%H:%M))"
  # shellcheck disable=SC2086
  "$BIN" train --synthetic "$IDS" --lights "$LIGHTS" --preset "$PRESET" --batch "$BATCH" --steps "$STEPS" \
    --seed "$SEED" --device "$DEVICE" --checkpoint-every "$STEPS" --eval-every $((STEPS / 6)) ${ROWS[$row]} \
    --out "$run" > "$OUT/$row.train.log" 2>&1
  echo "$row: evaluating ($(date +%H:%M))"
  "$BIN" eval --run "$run" --synthetic 50 --seed "$EVAL_SEED" --device "$DEVICE" --json "$run/eval.json" > "$OUT/$row.eval.txt" 2>&1
done
