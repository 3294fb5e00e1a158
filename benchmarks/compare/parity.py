#!/usr/bin/python3
"""Checks that a peer computes the same embeddings as vitfit before it is timed: worst cosine over the images of two
float32 files (rows of DIM values, same image order) must reach MIN; prints one JSON line, exits 1 below MIN.

  parity.py REFERENCE.f32 PEER.f32 DIM MIN LABEL
"""
import json
import sys

import numpy as np

ref = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, int(sys.argv[3]))
peer = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, int(sys.argv[3]))
if ref.shape != peer.shape:
    sys.exit(f"{sys.argv[5]}: {peer.shape[0]} embeddings, vitfit has {ref.shape[0]}")
cos = (ref * peer).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(peer, axis=1)
ok = bool(np.all(np.isfinite(cos))) and float(cos.min()) >= float(sys.argv[4])
print(json.dumps({"impl": "parity", "peer": sys.argv[5], "images": int(len(cos)), "worst_cosine": round(float(cos.min()), 6),
                  "mean_cosine": round(float(cos.mean()), 6), "required": float(sys.argv[4]), "ok": ok}))
sys.exit(0 if ok else 1)
