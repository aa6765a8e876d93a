"""Makes docs/images/align-photo.png, the "holiday photo" of the README's alignment screenshot:
a synthetic face (drgan-studio synth --size 256 --seed 21, person 3, frontal) turned 14° and
placed small and off-centre on a larger picture, so a centre crop misses it. Prints the
landmarks (image-left eye, image-right eye, mouth) on the new photo, from the canonical places
in src/data/align.rs, for `window --image … --landmarks …`.

    python3 scripts/align_photo.py FACES_DIR docs/images/align-photo.png
"""
import math
import sys

from PIL import Image, ImageDraw

CANONICAL = [(0.3832, 0.4081), (0.6168, 0.4081), (0.5, 0.6705)]
ANGLE = 14.0  # degrees, counter-clockwise as shown
SIDE = 170  # the face's side on the photo
AT = (380, 70)  # where the turned face's box goes

faces, out = sys.argv[1], sys.argv[2]
face = Image.open(f"{faces}/id0003/yaw+00_light0.png").convert("RGB").resize((SIDE, SIDE), Image.LANCZOS)
turned = face.rotate(ANGLE, resample=Image.BICUBIC, expand=True, fillcolor=(116, 126, 140))
photo = Image.new("RGB", (640, 420), (196, 214, 230))
draw = ImageDraw.Draw(photo)
draw.rectangle([0, 300, 640, 420], fill=(92, 140, 76))
draw.ellipse([40, 40, 130, 130], fill=(250, 220, 120))
draw.polygon([(60, 300), (180, 150), (300, 300)], fill=(120, 120, 140))
photo.paste(turned, AT)

theta = math.radians(ANGLE)
cx, cy = SIDE / 2, SIDE / 2
tx, ty = turned.width / 2, turned.height / 2
points = []
for fx, fy in CANONICAL:
    dx, dy = fx * SIDE - cx, fy * SIDE - cy
    x = tx + dx * math.cos(theta) + dy * math.sin(theta)
    y = ty - dx * math.sin(theta) + dy * math.cos(theta)
    points.append((AT[0] + x, AT[1] + y))
photo.save(out)
print(",".join(f"{v:.1f}" for p in points for v in p))
