#!/usr/bin/python3
"""PyTorch eager side of benchmarks/compare/run.sh: the same ViT, weights, preprocessing, batch sizes and thread count
as the vitfit side, timed the same way; one JSON line per measurement on stdout.

  torch_vit.py infer CHECKPOINT_DIR BATCH THREADS REPS IMAGES
  torch_vit.py e2e   CHECKPOINT_DIR BATCH THREADS REPS IMAGES_DIR
  torch_vit.py embed CHECKPOINT_DIR IMAGES_DIR OUT.f32   (embeddings of sorted images, for the parity check)
  torch_vit.py random-checkpoint OUT_DIR EMBED_DIM DEPTH HEADS   (timm-layout ViT/16 with random weights)
  torch_vit.py trace CHECKPOINT_DIR OUT.pt [fp32|int8]   (TorchScript for DJL, attention as scaled_dot_product_attention;
                                                          int8 = quantize_dynamic on qkv, proj, fc1)
  torch_vit.py int8 infer|e2e|embed ...   (the same commands on the dynamically quantised model, in this torch)

Needs Debian's python3-torch, python3-torchvision, python3-pil, python3-numpy; run with /usr/bin/python3.
The model is a plain nn.Module (timm is not installed) reading timm's tensor names; the weights come from the
checkpoint's model.safetensors, parsed with numpy (Debian ships no safetensors package).
"""
import json
import math
import os
import re
import struct
import sys
import time
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        raw = data[a:b]
        if meta["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[meta["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(meta["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, eps):
        super().__init__()
        self.heads = heads
        self.scale = 1 / math.sqrt(dim // heads)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # Spelled out: Debian's torch 1.13 has no F.scaled_dot_product_attention (PyTorch 2.0 added it), and a trace
        # must record the same ops for DJL's PyTorch 2.7.1 to run.
        a = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """timm's VisionTransformer (class token, pre-norm blocks, final norm), returning the final-normed CLS token."""

    def __init__(self, dim, depth, heads, patch=16, img=224, mlp_ratio=4.0, eps=1e-6):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (img // patch) ** 2, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, int(dim * mlp_ratio), eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return self.norm(x)[:, 0]


def load(checkpoint_dir):
    cfg = json.load(open(os.path.join(checkpoint_dir, "config.json")))
    a = cfg["model_args"]
    model = ViT(a["embed_dim"], a["depth"], a["num_heads"], a["patch_size"], a["img_size"], a.get("mlp_ratio", 4.0))
    sd = read_safetensors(os.path.join(checkpoint_dir, "model.safetensors"))
    mapped = {}
    for k, v in sd.items():
        if k.startswith("head."):
            continue
        k = k.replace("patch_embed.proj.", "patch_embed.").replace("attn.qkv", "qkv").replace("attn.proj", "proj")
        k = k.replace("mlp.fc1", "fc1").replace("mlp.fc2", "fc2")
        mapped[k] = v
    model.load_state_dict(mapped, strict=True)
    return model.eval(), cfg["pretrained_cfg"]


def transform(pcfg):
    size = pcfg["input_size"][1]
    # timm's eval transform: resize the shorter side to size / crop_pct, centre crop, normalise.
    interp = {"bicubic": transforms.InterpolationMode.BICUBIC, "bilinear": transforms.InterpolationMode.BILINEAR}
    return transforms.Compose([
        transforms.Resize(int(math.floor(size / pcfg["crop_pct"])), interpolation=interp[pcfg["interpolation"]]),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(pcfg["mean"], pcfg["std"]),
    ])


class Images(Dataset):
    def __init__(self, root, tf):
        self.paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                            if f.lower().endswith((".jpg", ".jpeg", ".png")))
        self.tf = tf

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            return self.tf(im.convert("RGB"))


def use_sdpa(src, dst, blocks):
    """Rewrites a TorchScript archive's attention, softmax(q kT * scale) v, as torch.scaled_dot_product_attention: what
    timm runs on PyTorch 2.x (fused_attn) and what DJL's PyTorch 2.7.1 runs fastest, but torch 1.13 cannot trace it.
    The archive's code is TorchScript source text; the debug tables that map it to line numbers are left out."""
    pattern = re.compile(r"    (\w+) = torch\.matmul\(q, torch\.transpose\(k, -2, -1\)\)\n"
                         r"    (\w+) = torch\.softmax\(torch\.mul\(\1, CONSTANTS\.c\d+\), -1\)\n"
                         r"    a = torch\.matmul\(\2, v\)\n")
    replaced = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(".debug_pkl"):
                continue
            if item.filename.endswith(".py"):
                code, n = pattern.subn("    a = torch.scaled_dot_product_attention(q, k, v)\n", data.decode())
                replaced += n
                data = code.encode()
            zout.writestr(item, data)
    if replaced != blocks:
        sys.exit(f"{src}: rewrote the attention of {replaced} blocks, expected {blocks}")


def quantize(model):
    engines = torch.backends.quantized.supported_engines
    # fbgemm is PyTorch's x86 int8 engine; Debian's build has only onednn (x86) and qnnpack (ARM-first).
    for engine in ("x86", "fbgemm", "onednn", "qnnpack"):
        if engine in engines:
            torch.backends.quantized.engine = engine
            break
    # vitfit dynamic int8's recipe: qkv, proj, fc1, weights per output channel. Quantising every nn.Linear (fc2 too) took the worst
    # embedding cosine with fp32 to 0.82 on the pet photos, so that model would not compute the same embeddings.
    linears = {name: torch.ao.quantization.per_channel_dynamic_qconfig for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and not name.endswith("fc2")}
    return torch.ao.quantization.quantize_dynamic(model, linears, dtype=torch.qint8)


def emit(mode, checkpoint, batch, threads, images, rates, precision):
    print(json.dumps({"impl": "pytorch", "mode": mode, "model": os.path.basename(os.path.normpath(checkpoint)),
                      "precision": precision, "device": "cpu", "batch": batch, "threads": threads, "images": images,
                      "engine": torch.backends.quantized.engine if precision == "int8" else None,
                      "torch": torch.__version__,
                      "median": float(np.median(rates)), "reps": [round(r, 4) for r in rates]}), flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "random-checkpoint":
        out, dim, depth, heads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        os.makedirs(out, exist_ok=True)
        rng = np.random.default_rng(0)
        t = {"patch_embed.proj.weight": rng.normal(0, 0.02, (dim, 3, 16, 16)), "patch_embed.proj.bias": np.zeros(dim),
             "cls_token": rng.normal(0, 0.02, (1, 1, dim)), "pos_embed": rng.normal(0, 0.02, (1, 197, dim)),
             "norm.weight": np.ones(dim), "norm.bias": np.zeros(dim)}
        for i in range(depth):
            p = f"blocks.{i}."
            for name, shape in [("attn.qkv", (3 * dim, dim)), ("attn.proj", (dim, dim)), ("mlp.fc1", (4 * dim, dim)),
                                ("mlp.fc2", (dim, 4 * dim))]:
                t[p + name + ".weight"] = rng.normal(0, 0.02, shape)
                t[p + name + ".bias"] = np.zeros(shape[0])
            for n in ("norm1", "norm2"):
                t[p + n + ".weight"], t[p + n + ".bias"] = np.ones(dim), np.zeros(dim)
        write_safetensors(os.path.join(out, "model.safetensors"), t)
        cfg = json.load(open(os.path.join(os.path.dirname(__file__), "../../models/vit-tiny-patch16-224-augreg/config.json")))
        cfg["architecture"] = f"vit_random_d{dim}_l{depth}_patch16_224"
        cfg["num_classes"], cfg["num_features"] = 0, dim
        cfg["model_args"].update({"embed_dim": dim, "depth": depth, "num_heads": heads})
        cfg["pretrained_cfg"]["num_classes"] = 0
        json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
        return

    precision = "fp32"
    if cmd == "int8":
        # PyTorch's int8 counterpart of vitfit int8: nn.Linear weights int8 per channel, activations quantised
        # dynamically (per tensor, at run time), the recipe of torch.ao.quantization for transformers on CPU.
        precision = "int8"
        sys.argv.pop(1)
        cmd = sys.argv[1]
    checkpoint = sys.argv[2]
    model, pcfg = load(checkpoint)
    if precision == "int8" or (cmd == "trace" and len(sys.argv) > 4 and sys.argv[4] == "int8"):
        model = quantize(model)
    if cmd == "trace":
        example = torch.randn(1, 3, pcfg["input_size"][1], pcfg["input_size"][2])
        with torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)
        traced.save(sys.argv[3] + ".tmp")
        use_sdpa(sys.argv[3] + ".tmp", sys.argv[3], len(model.blocks))
        os.remove(sys.argv[3] + ".tmp")
        return
    if cmd == "embed":
        torch.set_num_threads(1)
        ds = Images(sys.argv[3], transform(pcfg))
        with torch.inference_mode():
            emb = torch.cat([model(x) for x in DataLoader(ds, batch_size=8)])
        emb.numpy().astype("<f4").tofile(sys.argv[4])
        return

    batch, threads, reps = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    rates = []
    if cmd == "infer":
        images = int(sys.argv[6])
        batches = max(1, images // batch)
        x = torch.randn(batch, 3, pcfg["input_size"][1], pcfg["input_size"][2], generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            for rep in range(-1, reps):
                t0 = time.perf_counter()
                for _ in range(batches):
                    model(x)
                if rep >= 0:
                    rates.append(batches * batch / (time.perf_counter() - t0))
        emit("infer", checkpoint, batch, threads, batches * batch, rates, precision)
    elif cmd == "e2e":
        root = sys.argv[6]
        ds = Images(root, transform(pcfg))
        for rep in range(-1, reps):
            t0 = time.perf_counter()
            # The usual PyTorch recipe: DataLoader worker processes decode while the main process runs the model.
            loader = DataLoader(ds, batch_size=batch, num_workers=threads)
            out = []
            with torch.inference_mode():
                for x in loader:
                    out.append(model(x))
            emb = torch.cat(out)
            if rep >= 0:
                rates.append(len(emb) / (time.perf_counter() - t0))
        emit("e2e", checkpoint, batch, threads, len(ds), rates, precision)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
