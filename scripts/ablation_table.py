#!/usr/bin/env python3
"""The recipe ablation's table (Markdown) from the runs scripts/ablation.sh wrote, and with
--plot PNG a figure of every row's evaluation curves (eval.jsonl) in one picture.

Usage: scripts/ablation_table.py OUT [ROW...] [--plot PNG]
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def row(out, name):
    run = os.path.join(out, name)
    config = json.load(open(os.path.join(run, "config.json")))
    metrics = load(os.path.join(run, "metrics.jsonl"))
    report = json.load(open(os.path.join(run, "eval.json")))
    training = config["training"]
    last = metrics[-100:]
    cosines = [c for c in report["identity_cosine_per_bin"] if c is not None]
    return {
        "row": name,
        "steps": metrics[-1]["step"],
        "images": metrics[-1]["step"] * training["batch_size"],
        "minutes": metrics[-1]["wall_secs"] / 60,
        "device": training["device"],
        "ssim_frontal": report["ssim_frontal_avg"],
        "ssim_mean": report.get("ssim_mean"),
        "pose_control": report["pose_control_acc"],
        "classifier": report["pose_classifier_test_acc"],
        "pose_error": report.get("pose_error_degrees"),
        "rank1": report["rank1_avg"],
        "rank1_frontalized": report["rank1_frontalized_avg"],
        "cosine": sum(cosines) / len(cosines),
        "cosine_min": min(cosines),
        "g_id_acc": sum(m["g_id_acc"] for m in last) / len(last),
    }


def pct(v):
    return "—" if v is None else f"{100 * v:.1f} %"


def deg(v):
    return "—" if v is None else f"{v:.1f}°"


def num(v):
    return "—" if v is None else f"{v:.3f}"


def main():
    args = sys.argv[1:]
    plot = None
    if "--plot" in args:
        i = args.index("--plot")
        plot = args[i + 1]
        del args[i:i + 2]
    out, names = args[0], args[1:]
    if not names:
        names = sorted(d for d in os.listdir(out) if os.path.isfile(os.path.join(out, d, "eval.json")))
    rows = [row(out, n) for n in names]
    print("| recipe | steps | images | wall time, device | frontal SSIM | SSIM, 9×9 mean | pose control (classifier on real) "
          "| pose error | rank-1 raw | rank-1 frontalized | identity cosine mean (min bin) | g_id_acc, last 100 steps |")
    print("|---" * 12 + "|")
    for r in rows:
        print(f"| {r['row']} | {r['steps']} | {r['images']:,} | {r['minutes']:.1f} min, {r['device']} | {num(r['ssim_frontal'])} "
              f"| {num(r['ssim_mean'])} | {pct(r['pose_control'])} ({pct(r['classifier'])}) | {deg(r['pose_error'])} | {pct(r['rank1'])} "
              f"| {pct(r['rank1_frontalized'])} | {num(r['cosine'])} ({num(r['cosine_min'])}) | {num(r['g_id_acc'])} |")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        keys = [("ssim_frontal_avg", "frontal SSIM"), ("ssim_mean", "SSIM, every pose pair"),
                ("rank1_frontalized_avg", "rank-1, frontalized probes"), ("pose_control_acc", "pose control")]
        fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys) + 2, 4.5), sharex=True)
        colours = plt.get_cmap("tab20").colors
        for index, name in enumerate(names):
            evals = load(os.path.join(out, name, "eval.jsonl"))
            for ax, (key, title) in zip(axes, keys):
                points = [(e["step"], e.get(key)) for e in evals if e.get(key) is not None]
                if points:
                    ax.plot(*zip(*points), marker="o", markersize=3, label=name, color=colours[index % len(colours)],
                            linestyle="-" if index < len(colours) else "--")
                ax.set_title(title)
                ax.set_xlabel("step")
                ax.grid(alpha=0.3)
        axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.suptitle("quick evaluation during training (10 held-out identities)")
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        print(f"\nwrote {plot}")


if __name__ == "__main__":
    main()
