"""Checks a port against `drgan-studio export --golden DIR`'s vectors.

    python3 python/check_golden.py DIR [--torch]

DIR holds `model.safetensors` and the vectors the studio computed for one input: `input.png`,
`prepared.npy` (the input as the model reads it, 3×S×S in [−1, 1]), `z.npy`, `codes.npy` (one
pose code per row), `features.npy` (f(x)) and `outputs.npy` (the faces' grey levels as float32 P×S×S×3, one per
pose code). This script rebuilds the generator from the file's metadata alone, prepares the
input itself, draws every pose and prints how many grey levels its faces are from the studio's,
pose by pose. The forward pass is numpy's (what CI runs, `tests/reference.rs`); with `--torch`,
the PyTorch loader's (`drgan_reference.load` and `rotate`). It exits non-zero when the input,
`z` or `f(x)` differ, or a face is more than one level away.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import drgan_reference as ref  # noqa: E402


def conv2d(x, weight, bias, stride=1):
    """3×3 (or k×k) convolution, padding k // 2, of x C×H×W."""
    cout, cin, k, _ = weight.shape
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    h = (x.shape[1] + 2 * pad - k) // stride + 1
    w = (x.shape[2] + 2 * pad - k) // stride + 1
    cols = np.empty((cin, k, k, h, w), np.float32)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = xp[:, i : i + stride * h : stride, j : j + stride * w : stride]
    out = weight.reshape(cout, -1) @ cols.reshape(cin * k * k, h * w)
    return out.reshape(cout, h, w) + bias[:, None, None]


def conv_transposed(x, weight, bias):
    """3×3 transposed convolution, stride 2, padding 1, output padding 1: doubles the side."""
    cin, cout, k, _ = weight.shape
    h, w = x.shape[1:]
    full = np.zeros((cout, 2 * h + 2, 2 * w + 2), np.float32)
    for i in range(k):
        for j in range(k):
            contribution = np.tensordot(weight[:, :, i, j], x, axes=([0], [0]))
            full[:, i : i + 2 * h : 2, j : j + 2 * w : 2] += contribution
    return full[:, 1 : 1 + 2 * h, 1 : 1 + 2 * w] + bias[:, None, None]


def batchnorm(x, t, prefix, eps):
    mean, var = t[prefix + ".running_mean"], t[prefix + ".running_var"]
    return (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps) * t[prefix + ".weight"][:, None, None] + t[prefix + ".bias"][:, None, None]


def elu(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)).astype(np.float32)


def block(x, t, name, layer, meta):
    eps, alpha = meta["block"]["batchnorm"]["eps"], meta["block"]["activation"]["alpha"]
    w, b = t[name + ".conv.weight"], t[name + ".conv.bias"]
    if layer["kind"] == "transposed":
        y = conv_transposed(x, w, b)
    elif layer["kind"] == "resize":
        y = conv2d(x.repeat(2, axis=1).repeat(2, axis=2), w, b)
    else:
        y = conv2d(x, w, b, layer.get("stride", 1))
    return elu(batchnorm(y, t, name + ".bn", eps), alpha)


def encode(x, t, meta):
    for layer in meta["encoder"]["layers"]:
        x = block(x, t, "Genc." + layer["name"], layer, meta)
    return x.mean(axis=(1, 2))


def decode(f, c, z, t, meta):
    spec = meta["decoder"]
    parts = {"f": f, "c": c, "z": z}
    code = np.concatenate([parts[name] for name in spec["input_order"]])
    fc = spec["fc"]
    x = (t["Gdec.FC.weight"] @ code + t["Gdec.FC.bias"]).reshape(fc["reshape"])
    x = elu(batchnorm(x, t, "Gdec.FC.bn", meta["block"]["batchnorm"]["eps"]), meta["block"]["activation"]["alpha"])
    for layer in spec["layers"]:
        if layer.get("pose_maps"):
            x = np.concatenate([x, np.broadcast_to(c[:, None, None], (len(c),) + x.shape[1:])])
        x = block(x, t, "Gdec." + layer["name"], layer, meta)
    out = spec["output"]
    return np.tanh(conv2d(x, t["Gdec." + out["name"] + ".conv.weight"], t["Gdec." + out["name"] + ".conv.bias"]))


def main():
    folder = Path(sys.argv[1])
    use_torch = "--torch" in sys.argv
    tensors, metadata = ref.read_safetensors(folder / "model.safetensors")
    meta = ref.architecture(metadata)
    described = json.loads((folder / "golden.json").read_text())
    yaws = described["yaws"]
    golden = {name: np.load(folder / f"{name}.npy") for name in ("prepared", "z", "codes", "features", "outputs")}
    prepared = ref.to_tensor(ref.prepare(str(folder / "input.png"), meta["image_size"]))
    z = ref.noise(described["seed"], meta["noise_dim"])
    codes = np.stack([ref.pose_code(y, meta["pose_yaws"]) for y in yaws])
    if use_torch:
        import torch

        G, _, _ = ref.load(folder / "model.safetensors")
        with torch.no_grad():
            f = G.Genc(torch.from_numpy(prepared)[None])[0].numpy()
        faces = ref.rotate(G, str(folder / "input.png"), yaws, z=z)
    else:
        f = encode(prepared, tensors, meta)
        faces = [ref.to_pixels(decode(f, c, z, tensors, meta)) for c in codes]
    apart = {
        "input": float(np.abs(prepared - golden["prepared"]).max()),
        "z": float(np.abs(z - golden["z"]).max()),
        "pose codes": float(np.abs(codes - golden["codes"]).max()),
        "f(x), relative": float(np.abs(f - golden["features"]).max() / max(1e-6, float(np.abs(golden["features"]).max()))),
    }
    print(f"{'PyTorch' if use_torch else 'numpy'} against the studio: " + ", ".join(f"{name} {value:.1e} apart" for name, value in apart.items()))
    levels = []
    for yaw, face, want in zip(yaws, faces, golden["outputs"]):
        level = int(np.abs(face.astype(np.int32) - want.astype(np.int32)).max())
        levels.append(level)
        print(f"  {yaw:+6.1f}°: at most {level} grey level{'' if level == 1 else 's'} apart")
    exact = apart["input"] == 0.0 and apart["z"] == 0.0 and apart["pose codes"] == 0.0
    ok = exact and apart["f(x), relative"] < 1e-3 and max(levels) <= 1
    print("ok" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
