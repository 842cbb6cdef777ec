"""Reference energies for the whole composition space: the "oracle" (docs/method.md section 4).

A kernel ridge regression (KRR) with the Laplacian kernel on the *unscaled* 8-D
(row, group) vector and the L1 distance,

    k(x, x') = exp(-|x - x'|_1 / sigma),

is trained on the augmented DFT set and evaluated on all 39**4 grid points. Because
the L1 distance is a sum over the four sites, the kernel factorises,
``k = prod_s E[e_s, e'_s]`` with the 39x39 element kernel
``E[a, b] = exp(-(|row_a - row_b| + |group_a - group_b|) / sigma)``, and the full-grid
prediction is exactly ``L @ R.T`` with ``L[(a,b), j] = E[a, t_j1] E[b, t_j2] alpha_j`` and
``R[(c,d), j] = E[c, t_j3] E[d, t_j4]`` (1521 x n each): one matrix product instead of
1.97 M x 21 k kernel entries.

The model regresses ``y - mean(y)`` and adds the mean back: a Laplacian-kernel
prediction decays to 0 far from the data, so centring makes it decay to the mean
formation energy instead of to 0 eV/atom.

Linear algebra: all of it (kernel, Cholesky, solve, grid product) runs in torch
float64, one runtime with one thread pool; numpy/scipy's OpenBLAS is not used (its
threaded Cholesky segfaulted beside torch's OpenMP on an AMD EPYC; docs/design.md).
The augmented training set is closed under the A/B swap, and swapping A and B in both
arguments leaves the L1 distance unchanged, so with the compositions ordered as (one
of each twin pair, their twins) ``K = [[A, B], [B, A]]``. The orthogonal change of basis
to twin sums and differences splits the system exactly into two half-size ones,
``(A + B + lam I) a_s = (y1 + y2) / 2`` and ``(A - B + lam I) a_d = (y1 - y2) / 2``,
with ``alpha = (a_s + a_d, a_s - a_d)``: two Cholesky factorisations of n/2 instead of
one of n (4x less work, half the memory). The second is skipped when twins share
their energies.

Models never import this module; only the CLI and the metrics do.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs
import torch
from tqdm.auto import tqdm

from elpagen import space
from elpagen.data import EnergyClasses, TrainingSet
from elpagen.errors import InputError
from elpagen.io import atomic_write
from elpagen.space import CompositionSpace

# Chosen by 5-fold twin-grouped cross-validation (seed 0) on the augmented set (21,112
# compositions). Grids: sigma {12, 24, 48} x lambda {1e-2, 1e-3, 1e-4}, then sigma
# {9, 12, 16} x lambda {1e-1, 3e-2, 1e-2}, then sigma {7, 9} x lambda {3e-3, 1e-2}.
# Best pair sigma 9, lambda 1e-2: CV MAE 0.0744 +- 0.0014 eV/atom (sigma 12: 0.0750;
# sigma 7: 0.0749). Tables and timings in docs/oracle_cv.md.
DEFAULT_SIGMA = 9.0
DEFAULT_LAMBDA = 1e-2

#: Bump when the cache content or the model changes meaning.
CACHE_VERSION = 2  # 2: torch float64 solver with the A/B swap split
CACHE_ENV_VAR = "ELPAGEN_CACHE"
#: The held-out MAE of every build: fold 0 of the seed-0, 5-fold twin-grouped split (20 %).
HOLDOUT_FOLDS = 5
HOLDOUT_SEED = 0
#: Rows per block in direct kernel evaluation (block x 21k float64 = 170 MB).
_CHUNK = 1024
#: Training rows on which the solve is checked: |(K + lam I) alpha - y| / |y|.
_RESIDUAL_ROWS = 512
_RESIDUAL_TOL = 1e-6


class OracleCacheError(Exception):
    """A cached reference-energy file is missing, corrupted, truncated or stale."""


class ReferenceCacheWarning(UserWarning):
    """Issued when a bad cache file is found and rebuilt, or the cache cannot be written."""


# --------------------------------------------------------------------------- kernel


def features(codes: np.ndarray) -> np.ndarray:
    """(n,) codes -> (n, 8) unscaled (row, group) vectors, float64."""
    return space.to_features(space.decode(codes)).astype(np.float64)


def element_kernel(sigma: float) -> np.ndarray:
    """The 39x39 element kernel E[a, b] = exp(-(|dRow| + |dGroup|) / sigma)."""
    d = np.abs(space.ROW[:, None] - space.ROW[None, :]) + np.abs(
        space.GROUP[:, None] - space.GROUP[None, :]
    )
    return np.exp(-d / sigma)


def _kernel(codes_a: np.ndarray, codes_b: np.ndarray, sigma: float) -> torch.Tensor:
    """Laplacian kernel matrix (len(a), len(b)) as a float64 torch tensor.

    torch.cdist(p=1) on the integer 8-D features is exact (distances are small integers)
    and ~15x faster than numpy fancy indexing.
    """
    fa = torch.from_numpy(features(codes_a))
    fb = torch.from_numpy(features(codes_b))
    k = torch.cdist(fa, fb, p=1)
    k.mul_(-1.0 / sigma).exp_()  # in place: the kernel of 21k compositions is 3.6 GB
    return k


def kernel_matrix(codes_a: np.ndarray, codes_b: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian kernel matrix (len(a), len(b)), float64 numpy."""
    return _kernel(codes_a, codes_b, sigma).numpy()


# --------------------------------------------------------------------------- stages


class _Stages:
    """Times named stages; with ``progress`` a tqdm status bar shows the current one."""

    def __init__(self, names: Sequence[str], progress: bool, desc: str) -> None:
        self.times: dict[str, float] = {}
        self._bar = tqdm(total=len(names), desc=desc, disable=not progress, leave=True)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._bar.set_postfix_str(name)
        t = time.perf_counter()
        yield
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t
        self._bar.update(1)

    def close(self) -> None:
        self._bar.set_postfix_str("done")
        self._bar.close()


# --------------------------------------------------------------------------- KRR


class KRRSolveError(InputError):
    """K + lambda I is not numerically positive definite: lambda is too small."""


def _cholesky_solve(m: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """Solve (M + lam I) x = y, factorising ``m`` in place (its content is destroyed)."""
    m.diagonal().add_(lam)
    _, info = torch.linalg.cholesky_ex(m, out=(m, torch.empty((), dtype=torch.int32)))
    if int(info) != 0:
        raise KRRSolveError(
            f"K + lambda*I is not numerically positive definite for lambda={lam:g}; "
            "use a larger lambda"
        )
    return torch.cholesky_solve(y.reshape(-1, 1), m).ravel()


def twin_index(codes: np.ndarray) -> np.ndarray | None:
    """Position of each composition's A/B twin in ``codes``; None if a twin is missing."""
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    swapped = space.swap_ab(codes)
    pos = np.searchsorted(codes[order], swapped)
    pos = np.minimum(pos, len(codes) - 1)
    found = codes[order][pos] == swapped
    return order[pos] if len(codes) and found.all() else None


class KernelSystem:
    """The regularised kernel system of one training set, ready to solve for any lambda.

    When the set is closed under the A/B swap it is held as the two half-size blocks
    ``A + B`` and ``A - B`` (module doc); otherwise as the full kernel matrix.
    """

    def __init__(self, codes: np.ndarray, sigma: float) -> None:
        codes = np.asarray(codes)
        self.n = len(codes)
        twin = twin_index(codes)
        self.symmetric = twin is not None
        if twin is not None:
            self.first = np.flatnonzero(codes < codes[twin])  # one of each pair...
            self.second = twin[self.first]  # ...and its twin
            a = _kernel(codes[self.first], codes[self.first], sigma)
            b = _kernel(codes[self.first], codes[self.second], sigma)
            a.add_(b)  # A + B
            b.mul_(-2.0).add_(a)  # A + B - 2B = A - B, both in place
            self.blocks = [a, b]
        else:
            self.blocks = [_kernel(codes, codes, sigma)]

    def solve(self, y: np.ndarray, lam: float, overwrite: bool = False) -> np.ndarray:
        """alpha with (K + lam I) alpha = y; ``overwrite`` lets it factor the blocks in place."""
        yt = torch.as_tensor(np.asarray(y, dtype=np.float64))

        def chol(i: int, rhs: torch.Tensor) -> torch.Tensor:
            m = self.blocks[i] if overwrite else self.blocks[i].clone()
            return _cholesky_solve(m, rhs, lam)

        if not self.symmetric:
            return chol(0, yt).numpy()
        y1, y2 = yt[self.first], yt[self.second]
        a_s = chol(0, (y1 + y2) / 2)
        diff = (y1 - y2) / 2
        # Twins nearly always share their energy (the DFT set lists 34 pairs with two).
        a_d = chol(1, diff) if bool(diff.any()) else torch.zeros_like(diff)
        alpha = torch.empty(self.n, dtype=torch.float64)
        alpha[self.first] = a_s + a_d
        alpha[self.second] = a_s - a_d
        return alpha.numpy()


@dataclass
class KRRModel:
    """A fitted Laplacian-kernel ridge regression on composition codes."""

    sigma: float
    lam: float
    codes: np.ndarray  # (n,) training codes
    alpha: np.ndarray  # (n,) float64 dual coefficients
    mean: float  # fitted on y - mean, added back on prediction
    residual: float = float("nan")  # relative solve residual on a sample of rows
    stages: dict[str, float] = field(default_factory=dict)

    def predict(self, codes: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Direct kernel evaluation (float64), in blocks of ``chunk`` rows."""
        codes = np.asarray(codes)
        out = np.empty(len(codes), dtype=np.float64)
        alpha = torch.from_numpy(self.alpha)
        for i in range(0, len(codes), chunk):
            k = _kernel(codes[i : i + chunk], self.codes, self.sigma)
            out[i : i + chunk] = (k @ alpha).numpy()
        return out + self.mean

    def predict_grid(self) -> np.ndarray:
        """Predictions on all 39**4 grid points (code order), NaN where elements repeat.

        Exact separable evaluation: P = L @ R.T with 1521 x n factors (see module doc).
        """
        e = element_kernel(self.sigma)
        t = space.decode(self.codes)
        n = len(self.codes)
        g = space.N_ELEMENTS
        left = (e[:, None, t[:, 0]] * e[None, :, t[:, 1]] * self.alpha).reshape(g * g, n)
        right = (e[:, None, t[:, 2]] * e[None, :, t[:, 3]]).reshape(g * g, n)
        # [(a*39+b)*1521 + c*39+d] is exactly space.encode order
        p = (torch.from_numpy(left) @ torch.from_numpy(right).T).numpy().ravel()
        p += self.mean
        p[~valid_mask()] = np.nan
        return p


def _fit(
    codes: np.ndarray,
    energies: np.ndarray,
    sigma: float,
    lam: float,
    stages: _Stages | None = None,
    prefix: str = "",
) -> KRRModel:
    stages = stages or _Stages(["kernel", "cholesky"], False, "")
    codes = np.asarray(codes)
    y = np.asarray(energies, dtype=np.float64)
    mean = float(y.mean())
    with stages(prefix + "kernel"):
        system = KernelSystem(codes, sigma)
    with stages(prefix + "cholesky"):
        alpha = system.solve(y - mean, lam, overwrite=True)
    del system
    model = KRRModel(float(sigma), float(lam), codes.copy(), alpha, mean)
    # Sanity check of the solve on a sample of rows (the full K was overwritten by the
    # factor): the relative residual of (K + lam I) alpha = y - mean.
    rows = np.random.default_rng(0).choice(len(codes), min(_RESIDUAL_ROWS, len(codes)), False)
    lhs = (_kernel(codes[rows], codes, sigma) @ torch.from_numpy(alpha)).numpy()
    lhs += lam * alpha[rows]
    yc = y[rows] - mean
    model.residual = float(np.max(np.abs(lhs - yc)) / max(np.max(np.abs(yc)), 1e-300))
    if not model.residual < _RESIDUAL_TOL:
        warnings.warn(
            f"KRR solve residual {model.residual:.2e} (sigma={sigma:g}, lambda={lam:g}) "
            "is large: the system is ill-conditioned, use a larger lambda",
            RuntimeWarning,
            stacklevel=3,
        )
    return model


def fit_krr(train: TrainingSet, sigma: float, lam: float, progress: bool = False) -> KRRModel:
    """Fit the KRR model on all compositions of ``train``."""
    stages = _Stages(["kernel", "cholesky"], progress, "KRR fit")
    model = _fit(train.codes, train.energies, sigma, lam, stages)
    stages.close()
    model.stages = dict(stages.times)
    return model


# --------------------------------------------------------------------------- splits


def twin_folds(codes: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id 0..k-1 per composition; A/B twins always share a fold.

    Twins describe the same crystal (and carry the same energy), so a held-out
    composition whose twin is in training would be a leak, not a prediction.
    """
    if k < 2:
        raise InputError(f"need at least 2 folds, got {k}")
    _, inverse = np.unique(space.canonical(codes), return_inverse=True)
    n_groups = int(inverse.max()) + 1
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[np.random.default_rng(seed).permutation(n_groups)] = np.arange(n_groups) % k
    return fold_of_group[inverse.ravel()]


def holdout_mask(codes: np.ndarray, seed: int = HOLDOUT_SEED) -> np.ndarray:
    """True for the fixed 20 % held-out compositions (twin-grouped)."""
    return twin_folds(codes, HOLDOUT_FOLDS, seed) == 0


# --------------------------------------------------------------------------- CV


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
    folds = twin_folds(train.codes, k, seed)
    y_all = np.asarray(train.energies, dtype=np.float64)
    mae = np.full((len(sig), len(lams), k), np.inf)
    bar = tqdm(total=len(sig) * k * len(lams), desc="KRR CV", disable=not progress)
    for i, s in enumerate(sig):
        for f in range(k):
            tr, te = folds != f, folds == f
            mean = float(y_all[tr].mean())
            yc = y_all[tr] - mean
            k_te = _kernel(train.codes[te], train.codes[tr], s)
            if solver == "eigh":
                w, v = torch.linalg.eigh(_kernel(train.codes[tr], train.codes[tr], s))
                c = v.T @ torch.from_numpy(yc)
            else:
                system = KernelSystem(train.codes[tr], s)
            for j, lam in enumerate(lams):
                bar.set_postfix_str(f"sigma={s:g} fold={f} lambda={lam:g}")
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


# --------------------------------------------------------------------------- reference


@functools.lru_cache(maxsize=1)
def valid_mask() -> np.ndarray:
    """The grid points that are compositions (read-only, computed once per process)."""
    m = space.valid_grid_mask()
    m.flags.writeable = False
    return m


@dataclass
class ReferenceEnergies:
    """Estimated formation energies (eV/atom) and classes of every grid point.

    Indexed by composition code; grid points with a repeated element are NaN, class 0.
    """

    energies: np.ndarray  # (39**4,) float32
    classes: np.ndarray  # (39**4,) int8
    sigma: float
    lam: float
    holdout_mae: float
    seconds: float
    data_sha256: str
    energy_classes: EnergyClasses
    stages: dict[str, float] = field(default_factory=dict)
    #: The composition space the grid covers (from the training set).
    space: CompositionSpace | None = None

    @staticmethod
    def classes_of(energies: np.ndarray, energy_classes: EnergyClasses) -> np.ndarray:
        """Class 1..n of every valid grid point, 0 elsewhere (from the stored float32)."""
        valid = valid_mask()
        classes = np.zeros(energies.shape, dtype=np.int8)
        classes[valid] = energy_classes.assign(energies[valid])
        return classes

    def class_sizes(self) -> np.ndarray:
        """(n_classes,) number of compositions of the space in class 1..n."""
        return np.bincount(self.classes, minlength=self.energy_classes.n + 1)[1:]

    @staticmethod
    def _check_codes(codes: np.ndarray) -> np.ndarray:
        c = np.asarray(codes, dtype=np.int64)
        if c.size and (c.min() < 0 or c.max() >= space.N_GRID):
            raise InputError(f"composition codes must lie in 0..{space.N_GRID - 1}")
        return c

    def energy_of(self, codes: np.ndarray) -> np.ndarray:
        """Reference energies of the given codes (NaN for repeated elements)."""
        return self.energies[self._check_codes(codes)]

    def class_of(self, codes: np.ndarray) -> np.ndarray:
        """Reference classes 1..10 of the given codes (0 for repeated elements)."""
        return self.classes[self._check_codes(codes)]

    def fingerprint(self) -> str:
        """sha256 of what scores a sample: the class of every grid point, (sigma, lambda)
        and the class bounds. Two results are comparable only when these are equal."""
        h = hashlib.sha256(b"elpagen reference energies v1\n")
        h.update(np.ascontiguousarray(self.classes, dtype=np.int8).tobytes())
        ec = self.energy_classes
        h.update(json.dumps([float(self.sigma), float(self.lam), ec.lo, ec.hi, ec.n]).encode())
        return h.hexdigest()


def _holdout(
    train: TrainingSet, sigma: float, lam: float, stages: _Stages
) -> float:
    te = holdout_mask(train.codes)
    model = _fit(train.codes[~te], train.energies[~te], sigma, lam, stages, "holdout ")
    with stages("holdout predict"):
        pred = model.predict(train.codes[te])
    return float(np.mean(np.abs(pred - train.energies[te])))


def build(
    train: TrainingSet,
    sigma: float = DEFAULT_SIGMA,
    lam: float = DEFAULT_LAMBDA,
    progress: bool = False,
) -> ReferenceEnergies:
    """Held-out MAE (80/20 fit), then the fit on everything and the full-grid prediction."""
    return build_with_model(train, sigma, lam, progress)[0]


def build_with_model(
    train: TrainingSet, sigma: float, lam: float, progress: bool
) -> tuple[ReferenceEnergies, KRRModel]:
    """``build`` that also returns the full model (for the benchmark)."""
    t0 = time.perf_counter()
    names = ["holdout kernel", "holdout cholesky", "holdout predict", "kernel", "cholesky", "grid"]
    stages = _Stages(names, progress, "reference energies")
    mae = _holdout(train, sigma, lam, stages)
    model = _fit(train.codes, train.energies, sigma, lam, stages)
    with stages("grid"):
        energies = model.predict_grid().astype(np.float32)
    stages.close()
    ref = ReferenceEnergies(
        energies=energies,
        classes=ReferenceEnergies.classes_of(energies, train.energy_classes),
        sigma=float(sigma),
        lam=float(lam),
        holdout_mae=mae,
        seconds=time.perf_counter() - t0,
        data_sha256=train.sha256,
        energy_classes=train.energy_classes,
        stages=dict(stages.times),
        space=train.space,
    )
    return ref, model


# --------------------------------------------------------------------------- cache


def _default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("elpagen"))


def cache_dir() -> Path:
    """Where reference energies are cached: ``$ELPAGEN_CACHE`` or the user cache dir."""
    return _default_cache_dir()


def training_fingerprint(train: TrainingSet) -> str:
    """sha256 of what the reference model is trained on (codes, energies, class bounds).

    The cache is keyed by this rather than by the file checksum alone, so a subset of
    the same file never picks up the full set's energies.
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(train.codes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(train.energies, dtype=np.float64).tobytes())
    ec = train.energy_classes
    h.update(json.dumps([ec.lo, ec.hi, ec.n, train.sha256]).encode())
    return h.hexdigest()


def cache_path(train: TrainingSet, sigma: float, lam: float, directory: Path) -> Path:
    """The cache file of this training set and (sigma, lambda)."""
    fp = training_fingerprint(train)[:16]
    return directory / f"oracle_{fp}_sigma{float(sigma)!r}_lam{float(lam)!r}_v{CACHE_VERSION}.npz"


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save(ref: ReferenceEnergies, path: Path, fingerprint: str) -> None:
    """Write atomically: a temp file in the same dir, then os.replace."""
    meta = {
        "version": CACHE_VERSION,
        "fingerprint": fingerprint,
        "data_sha256": ref.data_sha256,
        "sigma": ref.sigma,
        "lam": ref.lam,
        "holdout_mae": ref.holdout_mae,
        "seconds": ref.seconds,
        "stages": ref.stages,
        "classes": [ref.energy_classes.lo, ref.energy_classes.hi, ref.energy_classes.n],
        "energies_sha256": _sha(ref.energies),
        "shape": list(ref.energies.shape),
        "dtype": str(ref.energies.dtype),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, energies=ref.energies,
                                          meta=np.array(json.dumps(meta))))


def load(path: Path, train: TrainingSet, sigma: float, lam: float) -> ReferenceEnergies:
    """Load and verify a cache file; OracleCacheError says what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as z:
            energies = z["energies"]
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise OracleCacheError(f"{path}: no such cache file") from None
    except Exception as e:  # truncated zip, bad CRC, bad JSON, missing member...
        raise OracleCacheError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    expected = {
        "version": CACHE_VERSION,
        "fingerprint": training_fingerprint(train),
        "data_sha256": train.sha256,
        "sigma": float(sigma),
        "lam": float(lam),
        "shape": [space.N_GRID],
        "dtype": "float32",
    }
    for key, want in expected.items():
        if meta.get(key) != want:
            raise OracleCacheError(f"{path}: stale ({key} is {meta.get(key)!r}, want {want!r})")
    if energies.shape != (space.N_GRID,) or energies.dtype != np.float32:
        raise OracleCacheError(f"{path}: energies have shape {energies.shape} {energies.dtype}")
    if _sha(energies) != meta.get("energies_sha256"):
        raise OracleCacheError(f"{path}: energies checksum mismatch (corrupted file)")
    if not np.array_equal(np.isnan(energies), ~valid_mask()):
        raise OracleCacheError(f"{path}: NaN pattern does not match the composition space")
    ec = train.energy_classes
    return ReferenceEnergies(
        energies=energies,
        classes=ReferenceEnergies.classes_of(energies, ec),
        sigma=float(sigma),
        lam=float(lam),
        holdout_mae=float(meta["holdout_mae"]),
        seconds=float(meta["seconds"]),
        data_sha256=train.sha256,
        energy_classes=ec,
        stages=dict(meta.get("stages", {})),
        space=train.space,
    )


def load_or_build(
    train: TrainingSet,
    sigma: float = DEFAULT_SIGMA,
    lam: float = DEFAULT_LAMBDA,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> tuple[ReferenceEnergies, bool]:
    """Reference energies from the cache, else built and cached; bool: loaded from cache.

    A corrupted, truncated or stale cache file is never used: a warning names the
    problem and the energies are rebuilt (and the file replaced). A cache directory that
    cannot be written is found before any computing: an InputError for ``rebuild``, else
    a warning, and the energies are not cached.
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    path = cache_path(train, sigma, lam, directory)
    if not rebuild and path.exists():
        try:
            return load(path, train, sigma, lam), True
        except OracleCacheError as e:
            warnings.warn(f"ignoring bad reference-energy cache, rebuilding: {e}",
                          ReferenceCacheWarning, stacklevel=2)
    try:  # a real file: permission bits would not tell root, a read-only mount, a quota
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        problem = None
    except OSError as e:
        problem = e.strerror or type(e).__name__
    if problem and rebuild:
        raise InputError(f"cannot write the reference-energy cache in {directory} ({problem}); "
                         "choose a writable --cache-dir (or $ELPAGEN_CACHE)")
    if problem:
        warnings.warn(f"cannot write the cache directory {directory} ({problem}): the energies "
                      "are built (about a minute), not cached", ReferenceCacheWarning, stacklevel=2)
    ref = build(train, sigma, lam, progress=progress)
    if not problem:
        save(ref, path, training_fingerprint(train))
    return ref, False
