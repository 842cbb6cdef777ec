"""Coverage at N from a different number of draws: unseen-species estimates.

A generator whose distribution is unknown (the VAE's and the GAN's decoders are
deterministic functions of a Gaussian latent vector) can only be measured by sampling; the
coverage of N valid draws (distinct members of the target class among them, over the class
size) is then a noisy, expensive number. Two classical estimators of species counting give it
from another number K of valid draws, both pure functions of the draws' counts:

* **Rarefaction** (K >= N; Hurlbert 1971, Heck et al. 1975): the expected number of distinct
  class members among N draws taken without replacement from the K drawn,
  sum over class members x of 1 - C(K - n_x, N) / C(K, N) (n_x: count of x among the K).
  It is an unbiased estimate of the expected coverage of N draws from the generator
  (E over the K draws of the without-replacement expectation equals the with-replacement
  one), and its variance falls with K: from about 10^6 draws it gives the class-1 coverage at
  N = 10,000 with none of one 10,000-draw run's noise.
* **Good-Toulmin** (K < N; Good and Toulmin 1956): the expected number of species first seen
  among t * K further draws, U(t) = - sum_i (-t)^i Phi_i (Phi_i: species seen exactly i
  times), restricted to the class members (the estimator is linear in the species, so it may
  be summed over any subset). It is unbiased and stable for t <= 1, so it doubles the draws
  (K = N / 2) at no sampling cost; for t > 1 its terms grow without bound, and
  :func:`good_toulmin` then uses the binomially smoothed version of Orlitsky, Suresh and Wu
  (PNAS 113, 13283, 2016), whose error stays bounded to about t ~ log K.

Precision, its neighbour version and the site distributions are means over the draws: the K
draws estimate them without bias as they are. Nothing here reads a generator or a random
stream: the same draws give the same estimate on every machine.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["counts_of", "good_toulmin", "rarefied_distinct", "extrapolated_distinct",
           "coverage_at"]


def counts_of(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct codes, their counts) of a 1-D array of valid composition codes."""
    c = np.asarray(codes).ravel()
    if c.size and (c < 0).any():
        raise ValueError("counts_of takes valid composition codes (>= 0) only")
    return np.unique(c, return_counts=True)


def _phi(counts: np.ndarray) -> np.ndarray:
    """Prevalences: phi[i] = number of species seen exactly i times (phi[0] = 0)."""
    return np.bincount(np.asarray(counts, dtype=np.int64))


def good_toulmin(counts: np.ndarray, t: float, k: int | None = None) -> float:
    """Expected number of species not among the K draws that ``t * K`` further draws would
    show, from the counts of the species seen (any subset of them: the estimate is
    linear; ``k``: the total draws K then, default the counts' sum). ``t <= 1``: the
    Good-Toulmin estimator; ``t > 1``: its smoothed form (Orlitsky,
    Suresh and Wu 2016: the i-th term weighted by P(L >= i), L ~ Binomial(m, 2 / (t + 2)),
    m = ceil(0.5 log_3(K t^2 / (t - 1)))), which stays close for t up to about log K."""
    if t < 0 or not np.isfinite(t):
        raise ValueError(f"t must be a finite number >= 0, got {t!r}")
    counts = np.asarray(counts, dtype=np.int64)
    counts = counts[counts > 0]
    if t == 0 or counts.size == 0:
        return 0.0
    phi = _phi(counts).astype(np.float64)
    i = np.arange(len(phi), dtype=np.float64)
    if t <= 1:
        return float(-np.sum(phi[1:] * (-t) ** i[1:]))
    k = int(counts.sum()) if k is None else int(k)
    m = max(1, math.ceil(0.5 * math.log(k * t * t / (t - 1.0), 3)))
    q = 2.0 / (t + 2.0)
    pmf = np.array([math.comb(m, j) * q**j * (1 - q) ** (m - j) for j in range(m + 1)])
    ge = np.cumsum(pmf[::-1])[::-1]  # ge[j] = P(L >= j)
    tail = np.where(i[1:] <= m, ge[np.minimum(i[1:], m).astype(int)], 0.0)
    return float(-np.sum(phi[1:] * (-t) ** i[1:] * tail))


def rarefied_distinct(counts: np.ndarray, n: int, k: int | None = None) -> float:
    """Expected number of distinct species among ``n`` draws taken without replacement
    from the K drawn (``n <= K``): sum of 1 - C(K - n_x, n) / C(K, n) over the species of
    ``counts`` (``k``: the total K when ``counts`` holds a subset of the species; default
    their sum)."""
    counts = np.asarray(counts, dtype=np.int64)
    counts = counts[counts > 0]
    k = int(counts.sum()) if k is None else int(k)
    if n < 0 or n > k:
        raise ValueError(f"rarefaction needs 0 <= n <= K draws ({k}), got n = {n}")
    if n == 0 or counts.size == 0:
        return 0.0
    # C(K - c, n) / C(K, n) = prod_{j < c} (K - n - j) / (K - j): a running sum of logs,
    # exact and without overflow; 0 once c > K - n (every n-subset then holds x).
    top = int(min(counts.max(), k - n))
    j = np.arange(top, dtype=np.float64)
    logs = np.concatenate([[0.0], np.cumsum(np.log1p(-n / (k - j)))])
    miss = np.where(counts <= k - n, np.exp(logs[np.minimum(counts, top)]), 0.0)
    return float(np.sum(1.0 - miss))


def extrapolated_distinct(counts: np.ndarray, n: int, k: int | None = None) -> float:
    """Expected number of distinct species among ``n`` draws, from the counts of the species
    seen among K draws (``k``: the total draws, when ``counts`` is a subset of the species;
    default their sum): rarefaction for n <= K, seen + Good-Toulmin for n > K."""
    counts = np.asarray(counts, dtype=np.int64)
    counts = counts[counts > 0]
    k = int(counts.sum()) if k is None else int(k)
    if k <= 0:
        raise ValueError("no draws to estimate from")
    if n <= k:
        return rarefied_distinct(counts, n, k)
    return float(len(counts) + good_toulmin(counts, n / k - 1.0, k))


def coverage_at(codes: np.ndarray, n: int, target_class: int, ref_classes: np.ndarray
                ) -> dict[str, float | int | str]:
    """Coverage of class ``target_class`` at ``n`` valid draws, estimated from the valid
    draws ``codes`` (any number K of them): ``coverage`` (distinct class members expected
    among n draws / class size), ``k`` (draws used), ``estimate`` (``rarefied`` when
    K >= n, ``extrapolated`` when K < n) and ``t`` (n / K - 1, the Good-Toulmin reach)."""
    ref = np.asarray(ref_classes)
    uniq, cnt = counts_of(codes)
    k = int(cnt.sum())
    n_class = int(np.count_nonzero(ref == target_class))
    mine = ref[uniq] == target_class
    distinct = extrapolated_distinct(cnt[mine], int(n), k)
    return {"coverage": distinct / n_class if n_class else 0.0, "k": k, "n": int(n),
            "estimate": "rarefied" if n <= k else "extrapolated",
            "t": max(0.0, n / k - 1.0)}
