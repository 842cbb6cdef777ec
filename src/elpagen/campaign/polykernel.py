"""The degree-2 polynomial kernel of ``marginal+kernel`` on one-hot sites,
k = ((1 + m) / (1 + n_sites))^2 with m the sites two compositions share, in the two forms
its ranking needs each round without refitting from scratch (issue 28):

* the labels' kernel matrix, factored once (Cholesky) and grown by a block of rows per
  round: labels are only ever appended, so the old factor is the new one's leading block
  (O(n^2 b) a round for b new labels in place of a dense O(n^3) solve, and half the
  memory);
* the prediction for candidates through the kernel's explicit feature map: with
  [same element on site s] = d_s, m = sum d_s and d_s^2 = d_s, so
  (1 + m)^2 = 1 + 3 m + 2 (pairs of sites both shared); the dual weights summed per site
  element and per site-pair element pair are tables a candidate reads with n_sites +
  n_sites (n_sites - 1) / 2 look-ups (O(candidates) in place of O(candidates x labels)).
"""

from __future__ import annotations

import numpy as np

from elpagen.space import CompositionSpace

#: New labels per block of the Cholesky growth (its cross block: rows x block matches).
BLOCK = 1024


def kernel_table(space: CompositionSpace) -> np.ndarray:
    """k by the number of shared sites m = 0..n_sites, float64 of the float32 values the
    dense form computed (so the kernel matrix is bitwise the one it solved)."""
    m = np.arange(space.n_sites + 1, dtype=np.float32)
    return (((np.float32(1.0) + m) / np.float32(1.0 + space.n_sites)) ** 2).astype(np.float64)


def shared_sites(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) sites shared by the element rows ``a`` and ``b`` (n, n_sites)."""
    out = np.zeros((len(a), len(b)), dtype=np.int64)
    for s in range(a.shape[1]):
        out += a[:, s, None] == b[None, :, s]
    return out


class GrowingDual:
    """Kernel ridge's dual weights a = (K + alpha I)^-1 r on labels that grow by appending
    (a campaign's): the Cholesky factor L of K + alpha I is kept as block rows, one per
    growth, and extended by the new labels' rows (nothing of the old factor is copied);
    a label set that does not extend the last one is factored anew."""

    def __init__(self, space: CompositionSpace, alpha: float) -> None:
        self.space, self.alpha = space, float(alpha)
        self.table = kernel_table(space)
        self.codes = np.empty(0, dtype=np.int64)
        self.elements = np.empty((0, space.n_sites), dtype=np.int64)
        self.rows: list = []  # torch float64 (b_k, n_k): block row k of L up to its diagonal

    def solve(self, codes: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """The dual weights (float64) of the labels ``codes`` for the targets ``rhs``."""
        import torch

        codes = np.asarray(codes, dtype=np.int64)
        n0 = len(self.codes)
        if len(codes) < n0 or not np.array_equal(codes[:n0], self.codes):
            n0, self.rows = 0, []  # not an extension: start again
            self.codes, self.elements = codes[:0], self.elements[:0]
        for i in range(n0, len(codes), BLOCK):
            self._grow(codes[i:i + BLOCK])
        r = torch.from_numpy(np.asarray(rhs, dtype=np.float64).reshape(-1, 1))
        return self._backward(self._forward(r)).numpy().ravel()

    def _grow(self, new: np.ndarray) -> None:
        """Extend L by the rows of ``new``: [C, D] with C = (L^-1 B)^T for their kernel B
        against the old labels and D D^T = K_new + alpha I - C C^T."""
        import torch

        el = self.space.decode(new).astype(np.int64)
        own = torch.from_numpy(self.table[shared_sites(el, el)])
        own.diagonal().add_(self.alpha)
        n0, b = len(self.codes), len(new)
        row = torch.empty((b, n0 + b), dtype=torch.float64)
        if n0:
            c = self._forward(torch.from_numpy(self.table[shared_sites(self.elements, el)]))
            row[:, :n0] = c.T
            own -= c.T @ c
        row[:, n0:] = torch.linalg.cholesky(own)
        self.rows.append(row)
        self.codes = np.concatenate([self.codes, new])
        self.elements = np.concatenate([self.elements, el])

    def _forward(self, r):
        """L^-1 r, block row by block row."""
        import torch

        z = torch.empty_like(r)
        for row in self.rows:
            hi = row.shape[1]
            lo = hi - row.shape[0]
            rhs = r[lo:hi] - row[:, :lo] @ z[:lo] if lo else r[lo:hi]
            z[lo:hi] = torch.linalg.solve_triangular(row[:, lo:], rhs, upper=False)
        return z

    def _backward(self, z):
        """L^-T z, from the last block row up."""
        import torch

        x = z.clone()
        for row in reversed(self.rows):
            hi = row.shape[1]
            lo = hi - row.shape[0]
            x[lo:hi] = torch.linalg.solve_triangular(row[:, lo:].T, x[lo:hi], upper=True)
            if lo:
                x[:lo] -= row[:, :lo].T @ x[lo:hi]
        return x


def predict(space: CompositionSpace, label_elements: np.ndarray, weights: np.ndarray,
            elements: np.ndarray) -> np.ndarray:
    """sum_j weights_j k(x, x_j) (float64) for the element rows ``elements`` (n, n_sites)
    of the candidates, the labels' rows ``label_elements``, through the feature map."""
    lab = np.asarray(label_elements, dtype=np.int64)
    el = np.asarray(elements, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    sizes = space.sizes
    sites = np.zeros(len(el))
    pairs = np.zeros(len(el))
    for s in range(space.n_sites):
        sites += np.bincount(lab[:, s], weights=w, minlength=sizes[s])[el[:, s]]
        for t in range(s + 1, space.n_sites):
            table = np.bincount(lab[:, s] * sizes[t] + lab[:, t], weights=w,
                                minlength=sizes[s] * sizes[t])
            pairs += table[el[:, s] * sizes[t] + el[:, t]]
    return (w.sum() + 3.0 * sites + 2.0 * pairs) / (1.0 + space.n_sites) ** 2
