#!/usr/bin/env python3
"""Six photos of one synthetic person for the fusion screenshot, two of them spoiled.

usage: scripts/fuse_photos.py PERSON_DIR OUT_DIR

PERSON_DIR is one person's folder of `drgan-studio synth` (light 0 at every yaw). Writes the
photos at -45, -30, -15, +15, +30 and +60 degrees into OUT_DIR; the +30 one blurred by a Gaussian
the way the multi-image training spoils its inputs (a box blur of a tenth of the side, twice) and
the -15 one with a grey box of half the side over the eyes: the two a fusing model should trust
least (scripts/confidence_check.py measures how often it does, over many people).
"""
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def main() -> None:
    person, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for yaw in ("-45", "-30", "-15", "+15", "+30", "+60"):
        image = Image.open(person / f"yaw{yaw}_light0.png").convert("RGB")
        side = image.width
        name = f"yaw{yaw}.png"
        if yaw == "+30":
            radius = max(side // 10, 1)
            image = image.filter(ImageFilter.BoxBlur(radius)).filter(ImageFilter.BoxBlur(radius))
            name = f"yaw{yaw}_blurred.png"
        elif yaw == "-15":
            # The eyes of a synthetic face lie about 0.38 of the side from the top.
            box = side // 2
            left, top = (side - box) // 2, int(side * 0.38) - box // 2
            ImageDraw.Draw(image).rectangle([left, top, left + box - 1, top + box - 1], fill=(128, 128, 128))
            name = f"yaw{yaw}_eyes_boxed.png"
        image.save(out / name)
        print(out / name)


if __name__ == "__main__":
    main()
