"""The seed rules of :mod:`elpagen.seeds`: one place, one name each, and the values they
had before they moved there (changing one changes published numbers)."""

from __future__ import annotations

import zlib

import pytest

from elpagen import seeds
from elpagen.generator import sample_seed as generator_sample_seed


def test_the_seeds_of_a_run_are_consecutive():
    assert seeds.run_seeds(0, 3) == (0, 1, 2)
    assert seeds.run_seeds(5, 2) == (5, 6)
    assert seeds.run_seeds(4, 0) == ()


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (3, 1), (0, 3), (2, 3), (7, 4)])
def test_member_seeds_are_seed_times_k_plus_j(seed, k):
    assert seeds.member_seeds(seed, k) == [seed * k + j for j in range(k)]


def test_fit_seeds_of_a_mixture_never_meet():
    assert seeds.fit_seeds([0, 1], 3) == [0, 1, 2, 3, 4, 5]
    assert seeds.fit_seeds([4, 7]) == [4, 7]
    every = seeds.fit_seeds(range(10), 4)
    assert len(set(every)) == len(every)


def test_the_derived_seeds_keep_their_values():
    assert [seeds.sample_seed(s) for s in (0, 1, 2)] == [1_000_003, 2_000_006, 3_000_009]
    assert generator_sample_seed is seeds.sample_seed  # the old import still works
    assert seeds.trial_seed(0, 5) == 5 and seeds.trial_seed(10, 3) == 13
    assert seeds.trial_sampler_seed(0, 7) == 7
    assert seeds.trial_sampler_seed(5000, 1) == (5000 * 1_000_003 + 1) % 2**32
    assert 0 <= seeds.trial_sampler_seed(10**9, 10**6) < 2**32
    assert seeds.round_seed(0, 1) == 1 and seeds.round_seed(3, 2) == 3002


def test_streams_are_seed_and_tag():
    assert seeds.stream(4, 11) == [4, 11]
    assert seeds.stream(4, "random") == [4, zlib.crc32(b"random")]
