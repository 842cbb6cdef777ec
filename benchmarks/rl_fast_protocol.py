"""Evidence for the RL agent's 'fast' protocol: train K seeds, report training-set proxies.

No reference energies are used (docs/method.md section 8): per member we report the exact
probability that the policy generates a training composition of the target class
(``p_train_c``), the JS distance of N samples to the target class of the training set, and
unique / novel counts among N samples. With ``--oracle CACHE.npz`` (a reference-energy cache
written by :mod:`elpagen.reference`) the script also reports the metrics of docs/method.md
section 5 against the reference classes, and the exact precision of the policy (its
probability mass on class c). Example::

    python benchmarks/rl_fast_protocol.py --hidden 256,256,256 --steps 6000 --lr 5e-4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from elpagen import data, metrics
from elpagen import reference as reference_module
from elpagen.baselines import MarginalSampler, RandomScreening
from elpagen.models.dqn import DQNAgent


def proxies(
    codes: np.ndarray, train: data.TrainingSet, c: int, ref: np.ndarray | None = None
) -> dict[str, float]:
    in_train = np.isin(codes, train.codes)
    in_c = np.isin(codes, train.codes_of_class(c))
    return {
        "js_train_c": metrics.training_js_objective(codes, train.codes, train.classes, c),
        "unique": int(len(np.unique(codes))),
        "novel_unique": metrics.n_novel_unique(codes, train.codes),
        "frac_in_train": float(in_train.mean()),
        "frac_train_c": float(in_c.mean()),
        **({} if ref is None else {
            "precision": metrics.precision(codes, c, ref),
            "precision_nb": metrics.precision_neighbor(codes, c, ref),
            "coverage": metrics.coverage(codes, c, ref),
            "js_ref_c": metrics.js_distance_to_class(codes, c, ref),
        }),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--protocol", default="fast")
    ap.add_argument("--hidden", default=None, help="e.g. 256,256,256")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--betas", default="5", help="sampling betas to evaluate, e.g. 1,2,5")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--target-class", type=int, default=1)
    ap.add_argument("--n", type=int, default=10_000, help="samples per member")
    ap.add_argument("--data", default=None, help="DFT CSV (default: $ELPAGEN_DATA)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--time-budget", type=float, default=None,
                    help="cap the steps so the fit takes about this many seconds (probe fit)")
    ap.add_argument("--baselines", action="store_true")
    ap.add_argument("--oracle", default=None, help="reference-energy cache (.npz) to score with")
    ap.add_argument("--json", default=None, help="append the result as one JSON line")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train = data.load_training_set(a.data)
    c = a.target_class
    ref = None
    if a.oracle:
        ref = reference_module.load(Path(a.oracle), train, reference_module.DEFAULT_SIGMA,
                                    reference_module.DEFAULT_LAMBDA)
        ref = ref.classes
    over = {
        k: v
        for k, v in {
            "hidden": a.hidden, "steps": a.steps, "batch_size": a.batch_size, "lr": a.lr,
        }.items()
        if v is not None
    }
    if a.time_budget:
        probe = DQNAgent(list(range(a.k)), protocol=a.protocol, device=a.device,
                         **{**over, "steps": 300})
        probe.fit(train, c)  # warm-up
        t0 = time.perf_counter()
        probe.fit(train, c)
        per_step = (time.perf_counter() - t0) / 300
        steps = over.get("steps", probe.PROTOCOLS[a.protocol].steps)
        over["steps"] = max(100, int(min(steps, a.time_budget / per_step)) // 100 * 100)
        print(f"{per_step * 1e3:.2f} ms/step -> {over['steps']} steps", flush=True)
    model = DQNAgent(list(range(a.k)), protocol=a.protocol, device=a.device, **over)
    t0 = time.perf_counter()
    model.fit(train, c)
    fit_s = time.perf_counter() - t0
    betas = [float(b) for b in a.betas.split(",")]
    out = {"config": {**model.config.__dict__}, "k": a.k, "class": c, "fit_s": fit_s,
           "device": str(model.device), "threads": torch.get_num_threads(), "by_beta": {}}
    for beta in betas:
        members = []
        for i, m in enumerate(model.members()):
            m.config = dataclasses.replace(m.config, beta=beta)
            t0 = time.perf_counter()
            codes, probs = m.composition_probabilities()
            table_s = time.perf_counter() - t0
            p_c = float(probs[np.isin(codes, train.codes_of_class(c))].sum())
            p_tr = float(probs[np.isin(codes, train.codes)].sum())
            s = m.sample(a.n, c, seed=100 + i).codes
            members.append({
                "table_s": table_s, "p_train_c": p_c, "p_train": p_tr,
                "final_loss": m.history["loss"][-1], **proxies(s, train, c, ref),
                **({} if ref is None else {"exact_precision": float(probs[ref[codes] == c].sum())}),
            })
        out["by_beta"][beta] = {
            k: [round(float(np.mean([r[k] for r in members])), 5),
                round(float(np.std([r[k] for r in members])), 5)]
            for k in members[0]
        }
    if a.baselines:
        rng = np.random.default_rng(0)
        for b in (RandomScreening(), MarginalSampler()):
            b.fit(train)
            out[b.name] = proxies(
                b.sample(a.n, c, seed=int(rng.integers(1000))).codes, train, c, ref)
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
