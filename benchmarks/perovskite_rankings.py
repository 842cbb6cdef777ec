"""How close a fixed ranking can get to the ideal on the perovskite class 1 (issue 26:
"report how close"), from models fitted to the **whole** DFT table: what a model family
could do at best if it knew every energy, against what a campaign strategy does from its
labels (docs/results.md, "Campaigns against a rougher truth").

Rankings: the ideal (the true energies), the additive model E[a, b] = mu + u_a + v_b
(the one-hot ridge's family) and additive + rank r (a low-rank matrix completion of the
73 x 73 table, iterative SVD on the compositions with an energy). For each: labels to 50 %
and 90 % of class 1 when bought in that order (no start set). Deterministic; a few CPU
seconds. Example::

    python benchmarks/perovskite_rankings.py --ranks 1,2,4,8
"""

from __future__ import annotations

import argparse

import numpy as np

from elpagen import api


def labels_to(order_score: np.ndarray, members: np.ndarray, fraction: float) -> int:
    """Labels bought in ascending ``order_score`` until ``fraction`` of ``members`` is found."""
    rank = np.empty(len(order_score), dtype=np.int64)
    rank[np.argsort(order_score, kind="stable")] = np.arange(len(order_score))
    need = int(np.ceil(fraction * members.sum()))
    return int(np.sort(rank[members])[need - 1]) + 1


def completed(table: np.ndarray, observed: np.ndarray, rank: int, iters: int = 200
              ) -> np.ndarray:
    """Additive + rank-``rank`` fit of ``table`` on ``observed`` (hard-impute SVD): the
    additive part is rank 2 of the centred matrix (row and column effects) at most."""
    x = np.where(observed, table, table[observed].mean())
    for _ in range(iters):
        m = x.mean()
        u, s, vt = np.linalg.svd(x - m, full_matrices=False)
        low = m + (u[:, :rank + 2] * s[:rank + 2]) @ vt[:rank + 2]
        x = np.where(observed, table, low)
    return low


def additive(table: np.ndarray, observed: np.ndarray, iters: int = 100) -> np.ndarray:
    """mu + u_a + v_b by alternating means over the observed cells."""
    t = np.where(observed, table, np.nan)
    mu = np.nanmean(t)
    a, b = np.zeros(t.shape[0]), np.zeros(t.shape[1])
    for _ in range(iters):
        a = np.nan_to_num(np.nanmean(t - mu - b[None, :], axis=1))
        b = np.nan_to_num(np.nanmean(t - mu - a[:, None], axis=0))
    return mu + a[:, None] + b[None, :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", default="1,2,4,8")
    ap.add_argument("--target-class", type=int, default=1)
    args = ap.parse_args()
    train = api.load_training_set(space="perovskite")
    ref = api.reference_energies(train)
    space = train.space
    energies, classes = np.asarray(ref.energies, float), np.asarray(ref.classes)
    el = space.decode(np.arange(space.n_grid))
    has = classes > 0
    table = np.zeros(space.sizes)
    table[el[has, 0], el[has, 1]] = energies[has]
    observed = np.zeros(space.sizes, dtype=bool)
    observed[el[has, 0], el[has, 1]] = True
    members = classes == args.target_class

    def row(name: str, fitted: np.ndarray) -> None:
        score = np.where(has, fitted[el[:, 0], el[:, 1]], np.inf)
        resid = np.sqrt(np.mean((fitted - table)[observed] ** 2))
        print(f"| {name} | {resid:.3f} | {labels_to(score, members, 0.5):,} | "
              f"{labels_to(score, members, 0.9):,} |")

    print(f"perovskite class {args.target_class}: {members.sum()} compositions of "
          f"{has.sum():,}\n")
    print("| ranking (fitted to the whole table) | RMSE on the table (eV/atom) | "
          "labels to 50 % | labels to 90 % |\n|---|---|---|---|")
    row("the true energies (ideal)", table)
    row("additive mu + u_a + v_b (one-hot ridge family)", additive(table, observed))
    for r in (int(x) for x in args.ranks.split(",")):
        row(f"additive + rank {r}", completed(table, observed, r))


if __name__ == "__main__":
    main()
