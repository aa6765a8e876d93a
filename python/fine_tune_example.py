"""Fine-tunes an exported model in PyTorch and saves it for `drgan-studio import`.

    python3 python/fine_tune_example.py model.safetensors face.png tuned.safetensors [STEPS]

A round trip that shows the weights going both ways: the reference loader builds G and D from
the file, a few Adam steps teach G to redraw `face.png` at the pose the photo is said to have
(0°, the frontal bin) a little closer to the photo, and `save` writes the result with the
file's metadata, which holds the run's configuration, so that

    drgan-studio import --from tuned.safetensors --run runs/tuned

makes a run the studio opens, evaluates and trains on. It prints the L1 distance before and
after, and the faces `rotate` draws from the tuned file for `tests/reference.rs` to compare.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import drgan_reference as ref  # noqa: E402


def main():
    source, photo, target = sys.argv[1:4]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    G, D, meta = ref.load(source)
    x = torch.from_numpy(ref.to_tensor(ref.prepare(photo, meta["image_size"])))[None]
    code = torch.from_numpy(ref.pose_code(0.0, meta["pose_yaws"]))[None]
    z = torch.from_numpy(ref.noise(0, meta["noise_dim"]))[None]
    # Only the decoder's last layer learns, with the BatchNorm statistics left as they are.
    last = getattr(G.Gdec, G.Gdec.output_name).conv
    optimizer = torch.optim.Adam(last.parameters(), lr=1e-3)
    G.eval()
    for step in range(steps):
        loss = (G(x, code, z) - x).abs().mean()
        if step == 0:
            print(f"L1 before: {loss.item():.4f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        print(f"L1 after {steps} steps: {(G(x, code, z) - x).abs().mean().item():.4f}")
    ref.save(G, D, meta, target)
    print(f"saved {target}")


if __name__ == "__main__":
    main()
