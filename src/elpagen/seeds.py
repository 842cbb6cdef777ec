"""Every seed elpagen derives from another, by one rule each, in one place.

A run is given seeds (``--seed S --seeds N``, ``seeds=`` of the Python API); everything
else (a mixture's member fits, the sampling stream of a fit, a search trial's model and
sampler, a campaign round's regressor and random streams) follows from them by the rules
below. The formulas are fixed: changing one changes published numbers.

==========================  =========================================================
rule                        value
==========================  =========================================================
:func:`run_seeds`           ``first, first + 1, ..., first + count - 1``
:func:`member_seeds`        ``seed * K, ..., seed * K + K - 1`` (a mixture of K fits)
:func:`fit_seeds`           the member seeds of every seed, in order
:func:`sample_seed`         ``1_000_003 * (fit_seed + 1)``
:func:`trial_seed`          ``base + trial`` (a search trial's model)
:func:`trial_sampler_seed`  ``(base * 1_000_003 + trial) % 2**32`` (its settings sampler)
:func:`round_seed`          ``seed * 1000 + round`` (a campaign round's refit)
:func:`stream`              ``[seed, tag]`` (a named sub-stream; a text tag: its CRC-32)
:func:`estimate_seed`       ``stream(sampling_seed, "estimate")`` (a rarefied estimate's draws)
==========================  =========================================================
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

#: The multiplier that keeps sampling and search-sampler streams apart from fit seeds.
SPREAD = 1_000_003
#: Rounds a campaign strategy refits in, at most, before two seeds' streams could meet.
ROUNDS_PER_SEED = 1000


def run_seeds(first: int, count: int) -> tuple[int, ...]:
    """The seeds of a run: ``count`` consecutive seeds from ``first`` (``--seed``,
    ``--seeds``); none for a count below 1."""
    return tuple(range(first, first + count))


def member_seeds(seed: int, mixture: int) -> list[int]:
    """The fit seeds of one seed sampled as a mixture of ``mixture`` = K fits:
    ``seed * K ... seed * K + K - 1`` (K = 1: the seed itself)."""
    return [seed * mixture + j for j in range(mixture)]


def fit_seeds(seeds: Iterable[int], mixture: int = 1) -> list[int]:
    """The fit seeds of a run's ``seeds``: each seed's :func:`member_seeds`, in order."""
    return [m for s in seeds for m in member_seeds(s, mixture)]


def sample_seed(fit_seed: int) -> int:
    """The sampling seed of the fit with ``fit_seed`` (kept apart from training streams):
    ``1_000_003 * (fit_seed + 1)``. One rule for the benchmark, the study and the search,
    so their numbers agree."""
    return SPREAD * (fit_seed + 1)


def trial_seed(base: int, trial: int) -> int:
    """The model seed of search trial number ``trial`` of a search seeded ``base``."""
    return base + trial


def trial_sampler_seed(base: int, trial: int) -> int:
    """The seed of the settings sampler of search trial ``trial`` (a 32-bit seed)."""
    return (base * SPREAD + trial) % 2**32


def round_seed(seed: int, round_: int) -> int:
    """The seed of a campaign strategy's refit in round ``round_`` (1, 2, ...) of the
    campaign seeded ``seed``: ``seed * 1000 + round_``."""
    return seed * ROUNDS_PER_SEED + round_


def stream(seed: int, tag: int | str) -> list[int]:
    """The entropy of the sub-stream ``tag`` of ``seed`` (for ``np.random.default_rng``):
    ``[seed, tag]``; a text tag (a strategy's name) stands as its CRC-32."""
    return [seed, zlib.crc32(tag.encode()) if isinstance(tag, str) else tag]


def estimate_seed(sampling_seed: int) -> list[int]:
    """The stream of the extra draws of a rarefied estimate (:mod:`elpagen.expected`) of
    the trial sampled with ``sampling_seed``: its own sub-stream, so the sampled numbers
    stay those of a run without the estimate."""
    return stream(sampling_seed, "estimate")
