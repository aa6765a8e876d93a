"""DR-GAN Studio's weights in PyTorch, built from the exported file alone.

    import drgan_reference as ref
    G, D, meta = ref.load("model.safetensors")        # every tensor loaded strictly
    faces = ref.rotate(G, "face.png", [-60, 0, 60])   # uint8 arrays, as `drgan-studio rotate` draws them

`drgan-studio export --run RUN --out model.safetensors` writes the file; its metadata
(`drgan.architecture`, format 1) says everything needed to rebuild the networks: the layers and
their kinds, the decoder's input order, the FC block, BatchNorm's eps and momentum, the
activation, how an input is prepared, how outputs become pixels, how the noise `z` is drawn and
what the pose code is. `save(G, D, meta, path)` writes a model trained or changed here back in
the same form, and `drgan-studio import --from path --run RUN` takes it into the studio.

Faces are prepared exactly as the studio prepares them (`prepare`), so a port checks itself
against `drgan-studio export --golden DIR`'s vectors to within one grey level. One thing is
outside this file's reach: JPEG decoders differ from one another by a level or so, so compare
PNG inputs.

Needs numpy (preparing, noise, reading the file) and torch (the networks). Pillow is used to
read image files when a path is given.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

ARCHITECTURE_KEY = "drgan.architecture"
FORMAT = 1

# ---------------------------------------------------------------------------------------------
# The file: safetensors, read and written without the safetensors package.

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BF16": None}


def read_safetensors(path):
    """The tensors of a safetensors file as float32 numpy arrays, and its metadata."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + length :]
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        raw = body[start:end]
        if info["dtype"] == "BF16":
            words = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = words.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float32) if info["dtype"] not in ("I64", "I32", "U8") else array.reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """`tensors` (name → float32 array) and `metadata` (str → str) as a safetensors file."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        blob = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def architecture(metadata):
    """The `drgan.architecture` metadata as a dict (refusing a format this file does not know)."""
    if ARCHITECTURE_KEY not in metadata:
        raise ValueError(f"the file has no {ARCHITECTURE_KEY} metadata: export it again with a newer drgan-studio")
    meta = json.loads(metadata[ARCHITECTURE_KEY])
    if meta.get("format") != FORMAT:
        raise ValueError(f"architecture format {meta.get('format')} is not {FORMAT}, the one this loader reads")
    return meta


# ---------------------------------------------------------------------------------------------
# Inputs, outputs, noise and pose codes, exactly as the studio makes them.


def _resize_weights(source, target):
    """image-rs 0.25's triangle filter: for each output pixel its first source pixel and weights."""
    f32 = np.float32
    ratio = f32(source) / f32(target)
    sratio = ratio if ratio >= f32(1.0) else f32(1.0)
    support = f32(1.0) * sratio
    rows = []
    for out in range(target):
        centre = (f32(out) + f32(0.5)) * ratio
        left = int(math.floor(centre - support))
        left = min(max(left, 0), source - 1)
        right = int(math.ceil(centre + support))
        right = min(max(right, left + 1), source)
        centre = centre - f32(0.5)
        weights = []
        for i in range(left, right):
            x = (f32(i) - centre) / sratio
            weights.append(f32(1.0) - abs(x) if abs(x) < f32(1.0) else f32(0.0))
        total = f32(0.0)
        for w in weights:
            total = f32(total + w)
        rows.append((left, [f32(w / total) for w in weights]))
    return rows


def resize_triangle(image, width, height):
    """`image` (H×W×C uint8) resized as image-rs's `imageops::resize(…, Triangle)` does: a
    vertical pass into float32, then a horizontal pass rounded to the nearest integer."""
    h, w, _ = image.shape
    if (w, h) == (width, height):
        return image.copy()
    source = image.astype(np.float32)
    vertical = np.zeros((height, w, image.shape[2]), np.float32)
    for out, (left, weights) in enumerate(_resize_weights(h, height)):
        acc = np.zeros((w, image.shape[2]), np.float32)
        for k, weight in enumerate(weights):
            acc = acc + source[left + k] * weight
        vertical[out] = acc
    result = np.zeros((height, width, image.shape[2]), np.float32)
    for out, (left, weights) in enumerate(_resize_weights(w, width)):
        acc = np.zeros((height, image.shape[2]), np.float32)
        for k, weight in enumerate(weights):
            acc = acc + vertical[:, left + k] * weight
        result[:, out] = acc
    # Rust's f32::round rounds halves away from zero; the values are never negative here.
    return np.floor(np.clip(result, 0.0, 255.0) + np.float32(0.5)).astype(np.uint8)


def load_size(size):
    """The side an input is resized to before its centre crop: ⌊(S·110 + 48) / 96⌋."""
    return (size * 110 + 48) // 96


def prepare(image, size):
    """An RGB image (H×W×3 uint8, or a path) as the studio's `rotate` prepares it for a model of
    side `size`: the central square, resized to `load_size(size)` with the triangle filter, its
    central `size`×`size` crop; returned as uint8 H×W×3."""
    if not isinstance(image, np.ndarray):
        from PIL import Image

        image = np.asarray(Image.open(image).convert("RGB"))
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    load = load_size(size)
    loaded = resize_triangle(square, load, load)
    offset = (load - size) // 2
    return loaded[offset : offset + size, offset : offset + size]


def to_tensor(image):
    """uint8 H×W×3 → float32 3×H×W in [−1, 1] (x / 127.5 − 1)."""
    return (image.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).transpose(2, 0, 1)


def to_pixels(y):
    """float 3×H×W in [−1, 1] → uint8 H×W×3: round((y + 1) · 127.5), clamped."""
    y = np.asarray(y, dtype=np.float32).transpose(1, 2, 0)
    return np.floor(np.clip((y + np.float32(1.0)) * np.float32(127.5), 0.0, 255.0) + np.float32(0.5)).astype(np.uint8)


def pose_code(yaw, yaws):
    """The pose code of `yaw`: one-hot at a bin (index 0 = the most negative yaw), a linear
    blend of the two neighbouring one-hots between bins, the end bin outside."""
    code = np.zeros(len(yaws), np.float32)
    if yaw <= yaws[0]:
        code[0] = 1.0
    elif yaw >= yaws[-1]:
        code[-1] = 1.0
    else:
        upper = next(i for i, y in enumerate(yaws) if y >= yaw)
        lower = max(upper - 1, 0)
        span = np.float32(yaws[upper]) - np.float32(yaws[lower])
        t = (np.float32(yaw) - np.float32(yaws[lower])) / span if span > 0 else np.float32(1.0)
        code[lower] += np.float32(1.0) - t
        code[upper] += t
    return code


def noise(seed, dim):
    """The studio's `z` for `seed`: rand_pcg's Pcg64 (PCG XSL-RR 128/64) seeded by rand_core's
    `seed_from_u64`, then `dim` draws of U[−1, 1] as rand 0.9 makes them (the top 23 bits of
    each output's low 32 bits, m, give m / 2²² − 1)."""
    mask64, mask128 = (1 << 64) - 1, (1 << 128) - 1
    state = seed & mask64

    def pcg32():
        nonlocal state
        state = (state * 6364136223846793005 + 11634580027462260723) & mask64
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        return ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFFFFFF

    seed_bytes = b"".join(struct.pack("<I", pcg32()) for _ in range(8))
    words = struct.unpack("<4Q", seed_bytes)
    multiplier = 0x2360ED051FC65DA44385DF649FCCF645
    pcg_state = words[0] | (words[1] << 64)
    increment = (words[2] | (words[3] << 64)) | 1
    pcg_state = (pcg_state + increment) & mask128
    pcg_state = (pcg_state * multiplier + increment) & mask128
    values = np.empty(dim, np.float32)
    for i in range(dim):
        pcg_state = (pcg_state * multiplier + increment) & mask128
        rot = pcg_state >> 122
        xsl = ((pcg_state >> 64) ^ pcg_state) & mask64
        out = ((xsl >> rot) | (xsl << ((64 - rot) & 63))) & mask64
        values[i] = np.float32(((out & 0xFFFFFFFF) >> 9) / float(1 << 22) - 1.0)
    return values


# ---------------------------------------------------------------------------------------------
# The networks in PyTorch: module names are the file's tensor names.


def _torch():
    import torch
    from torch import nn

    return torch, nn


def build(meta):
    """G and D (torch modules, in eval mode) for the architecture `meta`, with fresh weights."""
    torch, nn = _torch()
    bn = meta["block"]["batchnorm"]
    alpha = meta["block"]["activation"]["alpha"]

    class Block(nn.Module):
        """3×3 conv (stride 1 or 2), a transposed conv, or a nearest ×2 resize then a conv;
        BatchNorm; ELU."""

        def __init__(self, layer):
            super().__init__()
            self.kind = layer["kind"]
            cin, cout = layer["in"], layer["out"]
            if self.kind == "transposed":
                self.conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
            else:
                self.conv = nn.Conv2d(cin, cout, 3, stride=layer.get("stride", 1) if self.kind == "conv" else 1, padding=1)
            self.bn = nn.BatchNorm2d(cout, eps=bn["eps"], momentum=bn["momentum"])

        def forward(self, x):
            if self.kind == "resize":
                x = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            return torch.nn.functional.elu(self.bn(self.conv(x)), alpha=alpha)

    class Encoder(nn.Module):
        def __init__(self, spec, confidence):
            super().__init__()
            self.names = [layer["name"] for layer in spec["layers"]]
            for layer in spec["layers"]:
                self.add_module(layer["name"], Block(layer))
            if confidence:
                self.Omega = nn.Conv2d(spec["layers"][-1]["out"], 1, 3, padding=1)

        def feature_map(self, x):
            for name in self.names:
                x = getattr(self, name)(x)
            return x

        def forward(self, x):
            return self.feature_map(x).mean(dim=(2, 3))

        def confidence(self, x):
            """Each image's confidence logit ω (multi-image models)."""
            return self.Omega(self.feature_map(x)).mean(dim=(1, 2, 3))

    class FC(nn.Module):
        """The decoder's first layer: [f, c, z] → C·s·s, reshaped channel-first to C×s×s, then
        BatchNorm2d and ELU."""

        def __init__(self, spec):
            super().__init__()
            self.shape = spec["reshape"]
            self.weight = nn.Parameter(torch.zeros(spec["out"], spec["in"]))
            self.bias = nn.Parameter(torch.zeros(spec["out"]))
            self.bn = nn.BatchNorm2d(self.shape[0], eps=bn["eps"], momentum=bn["momentum"])

        def forward(self, code):
            x = torch.nn.functional.linear(code, self.weight, self.bias).reshape(-1, *self.shape)
            return torch.nn.functional.elu(self.bn(x), alpha=alpha)

    class Decoder(nn.Module):
        def __init__(self, spec):
            super().__init__()
            self.order = spec["input_order"]
            self.FC = FC(spec["fc"])
            self.layers = spec["layers"]
            for layer in self.layers:
                self.add_module(layer["name"], Block(layer))
            out = spec["output"]
            self.add_module(out["name"], nn.Module())
            getattr(self, out["name"]).conv = nn.Conv2d(out["in"], out["out"], 3, padding=1)
            self.output_name = out["name"]

        def forward(self, f, c, z):
            parts = {"f": f, "c": c, "z": z}
            x = self.FC(torch.cat([parts[name] for name in self.order], dim=1))
            for layer in self.layers:
                if layer.get("pose_maps"):
                    maps = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
                    x = torch.cat([x, maps], dim=1)
                x = getattr(self, layer["name"])(x)
            return torch.tanh(getattr(self, self.output_name).conv(x))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.Genc = Encoder(meta["encoder"], meta.get("confidence_head") is not None)
            self.Gdec = Decoder(meta["decoder"])
            self.meta = meta

        def forward(self, x, c, z):
            return self.Gdec(self.Genc(x), c, z)

    class Discriminator(nn.Module):
        """D.FC's logits, [Nd identities | fake | Np poses (| a fake pose)], from `forward`. A
        model with a pose projection or a patch critic also holds D.PoseProjection or D.Patch
        (loaded, so the file loads strictly); `forward` leaves them out."""

        def __init__(self):
            super().__init__()
            spec = meta["discriminator"]
            for layer in meta["encoder"]["layers"]:
                self.add_module(layer["name"], Block(layer))
            self.names = [layer["name"] for layer in meta["encoder"]["layers"]]
            self.FC = nn.Linear(spec["fc"]["in"], spec["fc"]["out"])
            if spec.get("pose_projection"):
                self.PoseProjection = nn.Linear(spec["fc"]["in"], len(meta["pose_yaws"]), bias=False)
            if spec.get("patch_critic"):
                self.Patch = nn.Conv2d(meta["encoder"]["layers"][spec["patch_critic"]["after_layers"] - 1]["out"], 1, 1)

        def forward(self, x):
            for name in self.names:
                x = getattr(self, name)(x)
            return self.FC(x.mean(dim=(2, 3)))

    return Generator().eval(), Discriminator().eval()


def load(path):
    """G, D (torch modules in eval mode) and the architecture metadata of an exported file;
    every tensor is loaded strictly (a name missing or left over is an error)."""
    torch, _ = _torch()
    tensors, metadata = read_safetensors(path)
    meta = architecture(metadata)
    meta["file_metadata"] = metadata
    G, D = build(meta)
    for module, prefix in ((G, ""), (D, "D.")):
        wanted = {k for k in module.state_dict() if not k.endswith("num_batches_tracked")}
        if prefix:
            part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        else:
            part = {k: v for k, v in tensors.items() if not k.startswith("D.")}
        state = {k: torch.from_numpy(np.array(v)) for k, v in part.items()}
        missing, extra = wanted - set(state), set(state) - wanted
        if missing or extra:
            raise ValueError(f"{path}: tensors missing {sorted(missing)[:5]}, left over {sorted(extra)[:5]}")
        for k in module.state_dict():
            if k.endswith("num_batches_tracked"):
                state[k] = torch.tensor(0)
        module.load_state_dict(state, strict=True)
    return G, D, meta


def save(G, D, meta, path):
    """G and D (as `load` built them) back into a file `drgan-studio import` reads, with the
    same metadata."""
    tensors = {}
    for module, prefix in ((G, ""), (D, "D.")):
        for k, v in module.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                tensors[prefix + k] = v.detach().cpu().numpy()
    write_safetensors(path, tensors, dict(meta["file_metadata"]))


def rotate(G, image, yaws, z=None, seed=0):
    """`image` (a path or H×W×3 uint8) redrawn by G at each of `yaws` (degrees), all with the
    noise `z` (default: the studio's `z` for `seed`), as uint8 H×W×3 arrays — what
    `drgan-studio rotate --seed SEED` writes."""
    torch, _ = _torch()
    meta = G.meta
    size = meta["image_size"]
    x = torch.from_numpy(to_tensor(prepare(image, size)))[None]
    z = noise(seed, meta["noise_dim"]) if z is None else np.asarray(z, np.float32)
    yaws = [yaws] if np.isscalar(yaws) else list(yaws)
    codes = torch.from_numpy(np.stack([pose_code(y, meta["pose_yaws"]) for y in yaws]))
    with torch.no_grad():
        f = G.Genc(x).expand(len(yaws), -1)
        out = G.Gdec(f, codes, torch.from_numpy(z)[None].expand(len(yaws), -1))
    return [to_pixels(face) for face in out.numpy()]
