#!/usr/bin/env python3
"""Does a multi-image model trust a spoiled photo least? Measured on people it never saw.

usage: scripts/confidence_check.py BINARY RUN [PEOPLE] [SEED]

For each of PEOPLE synthetic people of set SEED (default 20 people of seed 7, which no built-in
model trained on), six photos at -45, -30, -15, +15, +30 and +60 degrees; one of them (a different
pose each time) spoiled in one way, then the six fused by `BINARY rotate --run RUN --fuse`,
which prints each photo's confidence. Prints, for each way of spoiling, how often the spoiled
photo got the lowest confidence of its six and its mean confidence against the clean photos'.
The first three ways are the kinds the model's training spoils its inputs with
(src/data/degrade.rs); the last two, a blur weaker than those and a black bar over the eyes,
are not.
"""
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

YAWS = ("-45", "-30", "-15", "+15", "+30", "+60")


def blur(image, rng):
    radius = max(image.width // 10, 1)
    return image.filter(ImageFilter.BoxBlur(radius)).filter(ImageFilter.BoxBlur(radius))


def light_blur(image, rng):
    return image.filter(ImageFilter.GaussianBlur(radius=3))


def grey_box(image, rng):
    side = int(image.width * rng.uniform(0.4, 0.6))
    x, y = rng.randint(0, image.width - side), rng.randint(0, image.width - side)
    grey = int(127.5 * (1 + rng.uniform(-0.6, 0.6)))
    out = image.copy()
    ImageDraw.Draw(out).rectangle([x, y, x + side - 1, y + side - 1], fill=(grey, grey, grey))
    return out


def noise(image, rng):
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(rng.randint(0, 2**31)).normal(0, 0.6 * 127.5, pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def black_bar(image, rng):
    side = image.width
    out = image.copy()
    ImageDraw.Draw(out).rectangle([int(side * 0.18), int(side * 0.30), int(side * 0.82), int(side * 0.46)], fill=(20, 20, 20))
    return out


SPOILS = {"strong blur (a box of a tenth, twice)": blur, "a grey box": grey_box, "heavy noise": noise, "a Gaussian blur of 3 px (weaker than trained)": light_blur, "a black bar over the eyes (not trained on)": black_bar}


def main() -> None:
    binary, run = sys.argv[1], sys.argv[2]
    people = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    seed = sys.argv[4] if len(sys.argv) > 4 else "7"
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([binary, "synth", "--out", str(tmp / "set"), "--identities", str(people), "--seed", seed, "--size", "64"], check=True, capture_output=True)
        for name, spoil in SPOILS.items():
            lowest, spoiled_conf, clean_conf = 0, [], []
            for person in range(people):
                folder = tmp / "set" / f"id{person:04}"
                group = tmp / f"group-{person}"
                group.mkdir(exist_ok=True)
                for old in group.iterdir():
                    old.unlink()
                bad = YAWS[person % len(YAWS)]
                for yaw in YAWS:
                    image = Image.open(folder / f"yaw{yaw}_light0.png").convert("RGB")
                    if yaw == bad:
                        image = spoil(image, rng)
                    image.save(group / f"p{yaw}.png")
                out = subprocess.run(
                    [binary, "rotate", "--run", run, "--image", *sorted(str(p) for p in group.iterdir()), "--fuse", "--pose", "0", "--out", str(tmp / "out"), "--device", "cpu"],
                    check=True, capture_output=True, text=True,
                ).stdout
                confidences = {m.group(1): float(m.group(2)) for m in re.finditer(r"_p([+-]\d+): confidence σ\(ω\) ([0-9.]+)", out)}
                assert len(confidences) == len(YAWS), out
                spoiled_conf.append(confidences[bad])
                clean_conf.extend(v for k, v in confidences.items() if k != bad)
                lowest += confidences[bad] == min(confidences.values())
            print(f"{name:<46} lowest of six in {lowest}/{people}; mean σ(ω) {np.mean(spoiled_conf):.3f} against {np.mean(clean_conf):.3f} for the clean photos")


if __name__ == "__main__":
    main()
