#!/usr/bin/env python3
"""The people-per-batch table of docs/MULTI-IMAGE.md: rows of scripts/ablation.sh (from-single, from-multi6,
from-mixed6, from-multi2, from-multi6-dapart, from-mixed6-dapart) run at several batch sizes and
seeds, one ablation OUT folder each. A multi-image row is labelled by where D's real faces came
from, as its config.json says ("D apart" or "D in the groups"; runs made before the setting
existed have D in the groups). Each cell gives every seed's figure, then their mean.

Usage: scripts/people_per_batch_table.py OUT...   (e.g. runs/b24s0 runs/b24s1 runs/b48s0)
"""
import json
import os
import statistics
import sys

ROWS = ["from-single", "from-multi6", "from-mixed6", "from-multi2", "from-multi6-dapart", "from-mixed6-dapart"]
# (heading, eval.json key or a function of (report, metrics), format)
COLUMNS = [
    ("D identity, real (steps 301–600)", lambda r, m: statistics.mean(x["d_id_acc_real"] for x in m if x["step"] > 300), "pct"),
    ("rank-1 raw", lambda r, m: r["rank1_avg"], "pct"),
    ("rank-1 frontalized", lambda r, m: r["rank1_frontalized_avg"], "pct"),
    ("rank-1 fused", lambda r, m: r.get("rank1_fused_avg"), "pct"),
    ("the same photos singly", lambda r, m: r.get("rank1_single_same_photos"), "pct"),
    ("frontal SSIM", lambda r, m: r["ssim_frontal_avg"], "num"),
    ("pose control", lambda r, m: r["pose_control_acc"], "pct"),
]


def people(config):
    batch = config["training"]["batch_size"]
    multi = config["training"].get("multi")
    if not multi:
        return batch
    n = multi["images_per_id"]
    grouped = min(batch, multi.get("groups_per_batch", batch // n) * n)
    return grouped // n + batch - grouped


def main():
    cells = {}
    for out in sys.argv[1:]:
        for row in ROWS:
            run = os.path.join(out, row)
            if not os.path.exists(os.path.join(run, "eval.json")):
                continue
            config = json.load(open(os.path.join(run, "config.json")))
            report = json.load(open(os.path.join(run, "eval.json")))
            metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl")) if line.strip()]
            multi = config["training"].get("multi")
            name = row.removesuffix("-dapart")
            if multi:
                name += ", D apart" if multi.get("d_real_apart") else ", D in the groups"
            key = (config["training"]["batch_size"], ROWS.index(name.split(",")[0]), name, people(config))
            cells.setdefault(key, []).append((config["training"]["seed"], [f(report, metrics) for _, f, _ in COLUMNS]))
    print("| batch | row | people a batch | seeds | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---" * (4 + len(COLUMNS)) + "|")
    for (batch, _, row, count), seeds in sorted(cells.items()):
        seeds.sort()
        line = [str(batch), row, str(count), ", ".join(str(s) for s, _ in seeds)]
        for i, (_, _, kind) in enumerate(COLUMNS):
            values = [v[i] for _, v in seeds if v[i] is not None]
            show = (lambda v: f"{100 * v:.1f}") if kind == "pct" else (lambda v: f"{v:.3f}")
            if not values:
                line.append("—")
            elif len(values) == 1:
                line.append(show(values[0]))
            else:
                line.append(" / ".join(show(v) for v in values) + f" (**{show(statistics.mean(values))}**)")
        print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    main()
