"""Cross-validation of the reference model's sigma and lambda on a GPU (or CPU, slowly).

The same search as ``elpagen.reference.cross_validate`` (Laplacian/L1 KRR, k folds
that keep twins (the space's symmetry images) together, MAE on each held-out fold),
written with torch so a fine grid runs in about a minute on one GPU. Usage::

    PYTHONPATH=src python benchmarks/cv_gpu.py --data FILE --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from elpagen import data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sigmas", default="4,6,8,10,12,16,20,24,32,40,48,64")
    ap.add_argument("--lambdas", default="1e-1,3e-2,1e-2,3e-3,1e-3,3e-4,1e-4,3e-5,1e-5,1e-6")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    lambdas = [float(s) for s in args.lambdas.split(",")]
    dev = torch.device(args.device)

    train = data.load_training_set(args.data)
    space = train.space
    canon = space.canonical(train.codes)
    groups, inv = np.unique(canon, return_inverse=True)
    rng = np.random.default_rng(args.seed)
    fold_of_group = rng.permutation(len(groups)) % args.folds
    fold = fold_of_group[inv]

    x = torch.from_numpy(space.to_features(space.decode(train.codes))).double().to(dev)
    y = torch.from_numpy(train.energies).double().to(dev)
    dist = torch.cdist(x, x, p=1)  # exact: small integers
    mae = np.zeros((len(sigmas), len(lambdas), args.folds))
    t0 = time.perf_counter()
    for i, s in enumerate(sigmas):
        k_full = torch.exp(-dist / s)
        for f in range(args.folds):
            tr = torch.from_numpy(np.flatnonzero(fold != f)).to(dev)
            te = torch.from_numpy(np.flatnonzero(fold == f)).to(dev)
            k_tr = k_full[tr][:, tr]
            k_te = k_full[te][:, tr]
            mu = y[tr].mean()
            for j, lam in enumerate(lambdas):
                a = k_tr.clone()
                a.diagonal().add_(lam)
                chol, info = torch.linalg.cholesky_ex(a)
                if int(info) != 0:
                    mae[i, j, f] = np.nan
                    continue
                alpha = torch.cholesky_solve((y[tr] - mu)[:, None], chol)[:, 0]
                pred = k_te @ alpha + mu
                mae[i, j, f] = float((pred - y[te]).abs().mean())
        print(f"sigma={s:g}: " + " ".join(f"{m:.4f}" for m in mae[i].mean(-1)), flush=True)
    secs = time.perf_counter() - t0
    mean = mae.mean(-1)
    bi, bj = np.unravel_index(np.nanargmin(mean), mean.shape)
    out = {
        "sigmas": sigmas, "lambdas": lambdas, "folds": args.folds, "seed": args.seed,
        "mae_mean": mean.tolist(), "mae_std": mae.std(-1, ddof=1).tolist(),
        "best": {"sigma": sigmas[bi], "lambda": lambdas[bj], "mae": float(mean[bi, bj])},
        "seconds": secs, "device": str(dev),
        "device_name": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    print(json.dumps(out["best"]), f"{secs:.1f} s on {out['device_name']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
