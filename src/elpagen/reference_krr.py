"""The reference model: Laplacian-kernel ridge regression on composition codes.

The kernel, its per-site factorisation, the (twin-split) solve, the fitted model and its
exact full-grid prediction, and the twin-grouped folds (the maths: :mod:`elpagen.reference`).
Re-exported by :mod:`elpagen.reference`.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from elpagen.data import TrainingSet
from elpagen.errors import InputError
from elpagen.progress import bar as progress_bar
from elpagen.space import CompositionSpace

# Chosen by 5-fold twin-grouped cross-validation (seed 0) on the augmented set (21,112
# compositions). Grids: sigma {12, 24, 48} x lambda {1e-2, 1e-3, 1e-4}, then sigma
# {9, 12, 16} x lambda {1e-1, 3e-2, 1e-2}, then sigma {7, 9} x lambda {3e-3, 1e-2}.
# Best pair sigma 9, lambda 1e-2: CV MAE 0.0744 +- 0.0014 eV/atom (sigma 12: 0.0750;
# sigma 7: 0.0749). Tables and timings in docs/reference_cv.md.
DEFAULT_SIGMA = 9.0
DEFAULT_LAMBDA = 1e-2

#: The held-out MAE of every build: fold 0 of the seed-0, 5-fold twin-grouped split (20 %).
HOLDOUT_FOLDS = 5
HOLDOUT_SEED = 0
#: Rows per block in direct kernel evaluation (block x 21k float64 = 170 MB).
_CHUNK = 1024
#: Training rows on which the solve is checked: |(K + lam I) alpha - y| / |y|.
_RESIDUAL_ROWS = 512
_RESIDUAL_TOL = 1e-6


# --------------------------------------------------------------------------- kernel


def features(codes: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n,) codes -> (n, space.n_features) unscaled (period, group) vectors, float64."""
    return space.to_features(space.decode(codes)).astype(np.float64)


def element_kernel(sigma: float, space: CompositionSpace, site: int = 0) -> np.ndarray:
    """The element kernel of one site, E[a, b] = exp(-(|dRow| + |dGroup|) / sigma), over
    the site's element list (square: its size squared)."""
    row, group = space.rows[site], space.groups[site]
    d = np.abs(row[:, None] - row[None, :]) + np.abs(group[:, None] - group[None, :])
    return np.exp(-d / sigma)


def kernel_tensor(codes_a: np.ndarray, codes_b: np.ndarray, sigma: float,
            space: CompositionSpace) -> torch.Tensor:
    """Laplacian kernel matrix (len(a), len(b)) as a float64 torch tensor.

    torch.cdist(p=1) on the integer feature vectors is exact (distances are small
    integers) and ~15x faster than numpy fancy indexing.
    """
    fa = torch.from_numpy(features(codes_a, space))
    fb = torch.from_numpy(features(codes_b, space))
    k = torch.cdist(fa, fb, p=1)
    k.mul_(-1.0 / sigma).exp_()  # in place: the kernel of 21k compositions is 3.6 GB
    return k


def kernel_matrix(codes_a: np.ndarray, codes_b: np.ndarray, sigma: float,
                  space: CompositionSpace) -> np.ndarray:
    """Laplacian kernel matrix (len(a), len(b)), float64 numpy."""
    return kernel_tensor(codes_a, codes_b, sigma, space).numpy()


# --------------------------------------------------------------------------- stages


class Stages:
    """Times named stages; with ``progress`` a status bar (:mod:`elpagen.progress`: a
    line per stage when stderr is no terminal) shows the current one."""

    def __init__(self, names: Sequence[str], progress: bool, desc: str) -> None:
        self.times: dict[str, float] = {}
        self._bar = progress_bar(len(names), desc, "stage", progress, leave=True,
                                 each_status=True, interval=float("inf"))

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._bar.status(name)
        t = time.perf_counter()
        yield
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t
        self._bar.update(1)

    def close(self) -> None:
        self._bar.status("done")
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


def _twin_swap(space: CompositionSpace) -> tuple[int, ...] | None:
    """The space's one symmetry when it is a swap (its own inverse), else None: only then
    does the kernel system split into twin sums and differences."""
    if len(space.symmetries) != 1:
        return None
    perm = space.symmetries[0]
    return perm if all(perm[perm[i]] == i for i in range(len(perm))) else None


def twin_index(codes: np.ndarray, space: CompositionSpace) -> np.ndarray | None:
    """Position of each composition's twin (its image under the space's one symmetry, a
    site swap) in ``codes``; None if a twin is missing, a composition is its own twin, or
    the space declares no such symmetry."""
    codes = np.asarray(codes)
    if _twin_swap(space) is None or not len(codes):
        return None
    order = np.argsort(codes, kind="stable")
    swapped = space.twins(codes)[0]
    pos = np.searchsorted(codes[order], swapped)
    pos = np.minimum(pos, len(codes) - 1)
    found = codes[order][pos] == swapped
    if not found.all() or (swapped == codes).any():
        return None
    return order[pos]


class KernelSystem:
    """The regularised kernel system of one training set, ready to solve for any lambda.

    When the space declares a site swap and the set is closed under it, the system is
    held as the two half-size blocks ``A + B`` and ``A - B`` (module doc); otherwise as
    the full kernel matrix.
    """

    def __init__(self, codes: np.ndarray, sigma: float, space: CompositionSpace) -> None:
        codes = np.asarray(codes)
        self.n = len(codes)
        twin = twin_index(codes, space)
        self.symmetric = twin is not None
        if twin is not None:
            self.first = np.flatnonzero(codes < codes[twin])  # one of each pair...
            self.second = twin[self.first]  # ...and its twin
            a = kernel_tensor(codes[self.first], codes[self.first], sigma, space)
            b = kernel_tensor(codes[self.first], codes[self.second], sigma, space)
            a.add_(b)  # A + B
            b.mul_(-2.0).add_(a)  # A + B - 2B = A - B, both in place
            self.blocks = [a, b]
        else:
            self.blocks = [kernel_tensor(codes, codes, sigma, space)]

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
    space: CompositionSpace  # the space of the codes (from the training set)
    residual: float = float("nan")  # relative solve residual on a sample of rows
    stages: dict[str, float] = field(default_factory=dict)

    def predict(self, codes: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Direct kernel evaluation (float64), in blocks of ``chunk`` rows."""
        codes = np.asarray(codes)
        out = np.empty(len(codes), dtype=np.float64)
        alpha = torch.from_numpy(self.alpha)
        for i in range(0, len(codes), chunk):
            k = kernel_tensor(codes[i : i + chunk], self.codes, self.sigma, self.space)
            out[i : i + chunk] = (k @ alpha).numpy()
        return out + self.mean

    def _half_factor(self, sites: range, t: np.ndarray) -> np.ndarray | None:
        """(prod of the sites' sizes, n): the product over ``sites`` of the element kernels
        at the training compositions, rows in code order; None for no sites."""
        acc = None
        for s in sites:
            e = element_kernel(self.sigma, self.space, s)[:, t[:, s]]  # (size_s, n)
            acc = e if acc is None else (acc[:, None, :] * e[None, :, :]).reshape(-1, len(t))
        return acc

    def predict_grid(self) -> np.ndarray:
        """Predictions on every grid point of the space (code order), NaN on the grid
        points that are not compositions.

        Exact separable evaluation: P = L @ R.T, L over the first half of the sites and R
        over the second half (see module doc).
        """
        t = self.space.decode(self.codes)
        h = self.space.n_sites // 2
        left = self._half_factor(range(h), t)
        left = self.alpha[None, :] if left is None else left * self.alpha
        right = self._half_factor(range(h, self.space.n_sites), t)
        # Row i of L times row j of R is grid point i * (size of the second half) + j:
        # exactly the code order (first site most significant).
        p = (torch.from_numpy(left) @ torch.from_numpy(right).T).numpy().ravel()
        p += self.mean
        p[~valid_mask(self.space)] = np.nan
        return p


def fit_codes(
    codes: np.ndarray,
    energies: np.ndarray,
    sigma: float,
    lam: float,
    space: CompositionSpace,
    stages: Stages | None = None,
    prefix: str = "",
) -> KRRModel:
    """Fit the KRR model on ``codes`` of ``space`` and their ``energies`` (``stages`` times
    the kernel and the Cholesky under ``prefix``; its sanity check warns on a bad solve)."""
    stages = stages or Stages(["kernel", "cholesky"], False, "")
    codes = np.asarray(codes)
    y = np.asarray(energies, dtype=np.float64)
    mean = float(y.mean())
    with stages(prefix + "kernel"):
        system = KernelSystem(codes, sigma, space)
    with stages(prefix + "cholesky"):
        alpha = system.solve(y - mean, lam, overwrite=True)
    del system
    model = KRRModel(float(sigma), float(lam), codes.copy(), alpha, mean, space)
    # Sanity check of the solve on a sample of rows (the full K was overwritten by the
    # factor): the relative residual of (K + lam I) alpha = y - mean.
    rows = np.random.default_rng(0).choice(len(codes), min(_RESIDUAL_ROWS, len(codes)), False)
    lhs = (kernel_tensor(codes[rows], codes, sigma, space) @ torch.from_numpy(alpha)).numpy()
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
    stages = Stages(["kernel", "cholesky"], progress, "KRR fit")
    model = fit_codes(train.codes, train.energies, sigma, lam, train.space, stages)
    stages.close()
    model.stages = dict(stages.times)
    return model


# --------------------------------------------------------------------------- splits


def twin_folds(codes: np.ndarray, k: int, seed: int, *, space: CompositionSpace) -> np.ndarray:
    """Fold id 0..k-1 per composition; twins (images under the space's symmetries) always
    share a fold. A space without symmetries gives every composition its own group.

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


def holdout_mask(codes: np.ndarray, seed: int = HOLDOUT_SEED, *,
                 space: CompositionSpace) -> np.ndarray:
    """True for the fixed 20 % held-out compositions (twin-grouped)."""
    return twin_folds(codes, HOLDOUT_FOLDS, seed, space=space) == 0


@functools.lru_cache(maxsize=8)
def valid_mask(space: CompositionSpace) -> np.ndarray:
    """The grid points of ``space`` that are compositions (read-only, computed once per
    process and space)."""
    m = space.valid_grid_mask()
    m.flags.writeable = False
    return m
