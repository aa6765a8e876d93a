#!/usr/bin/env python3
"""Averages a run's metrics.jsonl over windows of steps, as a Markdown table.

Usage: scripts/metrics_table.py RUN/metrics.jsonl [WINDOW]
"""
import json
import sys

KEYS = ["d_loss", "g_loss", "d_id_acc_real", "d_pose_acc_real", "d_fake_acc", "g_pose_acc", "g_id_acc", "g_steps"]
# Columns only some recipes write (a pose teacher's agreement); shown when the run has them.
OPTIONAL = ["g_teacher_pose_acc"]


def main() -> None:
    path = sys.argv[1]
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    keys = KEYS + [k for k in OPTIONAL if any(k in m for m in lines)]
    print("| steps | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for start in range(0, len(lines), window):
        chunk = lines[start:start + window]
        means = [sum(m.get(k, 0.0) for m in chunk) / len(chunk) for k in keys]
        label = f"{chunk[0]['step']}–{chunk[-1]['step']}"
        print(f"| {label} | " + " | ".join(f"{v:.2f}" for v in means) + " |")
    print(f"\n{len(lines)} steps, {lines[-1]['wall_secs'] / 60:.1f} min of training")


if __name__ == "__main__":
    main()
