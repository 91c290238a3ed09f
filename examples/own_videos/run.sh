#!/usr/bin/env bash
# Train on your own labelled videos, end to end, on two clips cut from the repository's fixture
# (from scratch, then the shipped model fine-tuned on them):
#   examples/own_videos/run.sh [WORK_DIR]
# WORK_DIR receives the clips, labels.csv, the two checkpoints and their labels JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}

python "$here/make_clips.py" "$root/tests/fixtures/talking_head.mp4" "$work"
cp "$here/labels.csv" "$work/labels.csv"

# every file is one context unit; split=val rows validate (early stopping, emotion thresholds)
mtmm train --dataset videos --data-dir "$work" --out "$work/model" \
    --tasks sentiment,intensity,emotion --epochs 30 --patience 30

analyze-video "$work/clip_b.mp4" --checkpoint "$work/model" --out "$work/clip_b.labels.json"
echo "labels: $work/clip_b.labels.json"

# with this few labels, adapting the shipped model beats training from scratch: its tasks, inputs
# and label rules stay; the output shows validation before and after
mtmm train --from default --dataset videos --data-dir "$work" --out "$work/tuned" --epochs 10
analyze-video "$work/clip_b.mp4" --checkpoint "$work/tuned" --out "$work/clip_b.tuned.json"
echo "labels of the fine-tuned default: $work/clip_b.tuned.json"
