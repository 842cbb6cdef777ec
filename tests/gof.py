"""Goodness-of-fit helper shared by the sampler tests (test_ar, test_dqn)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def gof_pvalue(counts: np.ndarray, p: np.ndarray) -> float:
    """Chi-square goodness of fit; bins expecting < 5 counts are pooled into one."""
    n = counts.sum()
    big = p * n >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(p[big] * n, p[~big].sum() * n)
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue)
