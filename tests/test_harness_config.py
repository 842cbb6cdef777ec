"""RunConfig, the one place the options of a benchmark, run or frontier are checked (the
fit, sampling and scoring inside trust them)."""

from __future__ import annotations

import pytest

from elpagen.errors import InputError
from elpagen.harness.config import RunConfig, check_counts, check_mixture


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_the_mixture_size_is_checked_at_the_boundary(bad):
    with pytest.raises(InputError, match="mixture"):
        RunConfig(models=("marginal",), mixture=bad)
    with pytest.raises(InputError, match="mixture"):
        check_mixture(bad)


def test_counts_within_the_maxima():
    check_counts(3, 2)
    with pytest.raises(InputError, match="maximum"):
        check_counts(1_001, 1)
    with pytest.raises(InputError, match="fits per model"):
        check_counts(1_000, 11)


@pytest.mark.parametrize("bad", [0, 11, 2.5, None])
def test_the_class_is_checked_once_here(bad):
    with pytest.raises(InputError, match="1 to 10"):
        RunConfig(models=("marginal",), target_class=bad)


def test_settings_for_a_model_by_name_path_or_class_land_on_its_name():
    from elpagen.baselines import MarginalSampler

    c = RunConfig(models=("marginal", "random"), overrides={MarginalSampler: {}},
                  grids={"elpagen.baselines:MarginalSampler": [1.0]})
    assert c.models == ("marginal", "random")
    assert set(c.overrides) == {"marginal"} and set(c.grids) == {"marginal"}
    with pytest.raises(InputError, match="not among the models of this run"):
        RunConfig(models=("random",), overrides={"marginal": {}})
    with pytest.raises(InputError, match="'nonesuch', which is not among"):
        RunConfig(models=("random",), overrides={"nonesuch": {}})
