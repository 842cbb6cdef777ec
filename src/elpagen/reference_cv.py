"""Cross-validation of the reference model's sigma and lambda (docs/reference_cv.md).

k folds that keep twins together (:func:`elpagen.reference.twin_folds`); per sigma and
fold the kernels are built once and every lambda reuses them. Re-exported by
:mod:`elpagen.reference` (``reference.cross_validate``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from elpagen.data import TrainingSet
from elpagen.errors import InputError
from elpagen.progress import bar as progress_bar
from elpagen.reference_krr import KernelSystem, KRRSolveError, kernel_tensor, twin_folds


@dataclass
class CVResult:
    """Cross-validated MAE (eV/atom) for every (sigma, lambda) pair."""

    sigmas: np.ndarray  # (S,)
    lambdas: np.ndarray  # (L,)
    mae_folds: np.ndarray  # (S, L, k); inf where K + lam I was not positive definite
    k: int
    seed: int
    seconds: float
    solver: str

    @property
    def mae(self) -> np.ndarray:
        """(S, L) mean MAE over the folds."""
        return self.mae_folds.mean(axis=2)

    @property
    def mae_std(self) -> np.ndarray:
        return self.mae_folds.std(axis=2)

    @property
    def best(self) -> tuple[float, float, float]:
        """(sigma, lambda, mean MAE) of the best pair."""
        i, j = np.unravel_index(int(np.argmin(self.mae)), self.mae.shape)
        return float(self.sigmas[i]), float(self.lambdas[j]), float(self.mae[i, j])

    @property
    def best_sigma(self) -> float:
        return self.best[0]

    @property
    def best_lambda(self) -> float:
        return self.best[1]

    @property
    def best_mae(self) -> float:
        return self.best[2]

    def to_markdown(self) -> str:
        """The table: one row per sigma, one column per lambda, mean ± std MAE."""
        head = "| sigma \\ lambda | " + " | ".join(f"{lam:g}" for lam in self.lambdas) + " |"
        sep = "|---" * (len(self.lambdas) + 1) + "|"
        rows = [
            f"| {s:g} | "
            + " | ".join(
                f"{m:.4f} ± {d:.4f}" for m, d in zip(self.mae[i], self.mae_std[i], strict=True)
            )
            + " |"
            for i, s in enumerate(self.sigmas)
        ]
        return "\n".join([head, sep, *rows])

    def to_dict(self) -> dict:
        return {
            "sigmas": self.sigmas.tolist(),
            "lambdas": self.lambdas.tolist(),
            "mae": self.mae.tolist(),
            "mae_std": self.mae_std.tolist(),
            "k": self.k,
            "seed": self.seed,
            "seconds": self.seconds,
            "solver": self.solver,
            "best": dict(zip(("sigma", "lambda", "mae"), self.best, strict=True)),
        }


#: Above this many lambdas one eigendecomposition per (sigma, fold) beats one Cholesky
#: per lambda: eigh took ~10x a Cholesky here (n = 4000, 2 cores).
_EIGH_MIN_LAMBDAS = 10


def cross_validate(
    train: TrainingSet,
    sigmas: Sequence[float],
    lambdas: Sequence[float],
    k: int = 5,
    seed: int = 0,
    progress: bool = False,
    solver: str = "auto",
) -> CVResult:
    """k-fold, twin-grouped cross-validation of (sigma, lambda) by MAE.

    Per sigma and fold the train and test kernels are built once and reused for all
    lambdas; each lambda then costs one Cholesky (``solver="cholesky"``), or all lambdas
    share one eigendecomposition (``"eigh"``). ``"auto"`` picks the cheaper one.
    """
    t0 = time.perf_counter()
    sig = np.asarray(sigmas, dtype=np.float64)
    lams = np.asarray(lambdas, dtype=np.float64)
    if solver == "auto":
        solver = "eigh" if len(lams) >= _EIGH_MIN_LAMBDAS else "cholesky"
    if solver not in ("cholesky", "eigh"):
        raise InputError(f"solver must be 'auto', 'cholesky' or 'eigh', got {solver!r}")
    sp = train.space
    folds = twin_folds(train.codes, k, seed, space=sp)
    y_all = np.asarray(train.energies, dtype=np.float64)
    mae = np.full((len(sig), len(lams), k), np.inf)
    bar = progress_bar(len(sig) * k * len(lams), "KRR CV", "fit", progress, leave=True)
    for i, s in enumerate(sig):
        for f in range(k):
            tr, te = folds != f, folds == f
            mean = float(y_all[tr].mean())
            yc = y_all[tr] - mean
            k_te = kernel_tensor(train.codes[te], train.codes[tr], s, sp)
            if solver == "eigh":
                w, v = torch.linalg.eigh(kernel_tensor(train.codes[tr], train.codes[tr], s, sp))
                c = v.T @ torch.from_numpy(yc)
            else:
                system = KernelSystem(train.codes[tr], s, sp)
            for j, lam in enumerate(lams):
                bar.status(f"sigma={s:g} fold={f} lambda={lam:g}")
                if solver == "eigh":
                    if float(w.min()) + lam <= 0:
                        bar.update(1)
                        continue
                    alpha = v @ (c / (w + lam))
                else:
                    try:
                        alpha = torch.from_numpy(system.solve(yc, lam))
                    except KRRSolveError:
                        bar.update(1)
                        continue  # not positive definite: leave inf
                pred = (k_te @ alpha).numpy() + mean
                mae[i, j, f] = float(np.mean(np.abs(pred - y_all[te])))
                bar.update(1)
            del k_te
    bar.close()
    return CVResult(sig, lams, mae, k, seed, time.perf_counter() - t0, solver)
