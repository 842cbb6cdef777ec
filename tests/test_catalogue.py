"""The model catalogue: one record per model, read by every command.

A generator defined here, in a test (not in ``src/``), gets one record and nothing else,
and then runs through ``benchmark`` (also in worker processes), ``frontier``,
``study --quick`` and the report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from elpagen import catalogue, cli
from elpagen.catalogue import Kind, ModelSpec
from elpagen.errors import InputError
from elpagen.generator import Generator


class Toy(Generator):
    """Draws from the training compositions of the target class, mixed with uniform
    random compositions; knob ``spread`` s: a share 1/s of the draws comes from the pool."""

    name = "toy"
    knob = "spread"
    knob_default = 1.0
    knob_grid = (1.0, 2.0, 4.0)
    spread = 1.0

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train, target_class=None):
        self.space = train.space
        self.pools_ = {c: train.codes_of_class(c) for c in range(1, 11)}
        return self

    def propose(self, n, target_class, rng):
        pool = self.pools_[target_class]
        sp = self.space  # the training set's
        el = rng.integers(0, np.asarray(sp.sizes), size=(n, sp.n_sites))
        uniform = np.where(sp.is_valid(el), sp.encode(el), -1)
        from_pool = rng.random(n) < 1.0 / self.spread
        return np.where(from_pool, pool[rng.integers(0, len(pool), size=n)], uniform)


TOY = ModelSpec("toy", Toy, Kind.GENERATOR, label="Toy generator", color="C9")


@pytest.fixture
def toy():
    catalogue.register(TOY)
    yield TOY
    catalogue.unregister("toy")


def test_records_are_checked_and_lookups_are_one_line():
    with pytest.raises(catalogue.UnknownModelError, match="unknown model 'nope'; choose from"):
        catalogue.get("nope")
    with pytest.raises(InputError, match="already in the catalogue"):
        catalogue.register(ModelSpec("vae", Toy))
    with pytest.raises(InputError, match="named twice"):
        catalogue.check_models(["vae", "vae"])
    with pytest.raises(InputError, match="model name"):
        ModelSpec("a b", Toy)
    assert catalogue.names(kind=Kind.SCREENING) == ("surrogate",)
    assert catalogue.published(1)["vae"] == (0.83, 0.54)
    # Table 1 is the elpasolite's energy class 1: the frontier and the leaderboard ask here.
    assert catalogue.published(1, "elpasolite") == catalogue.published(1)
    assert catalogue.published(1, "perovskite") == {} == catalogue.published(1, None, "stable")


def test_every_builtin_record_names_its_class():
    for s in catalogue.BUILTIN:
        assert s.cls.name == s.name, s
        assert s.kind in Kind and s.label and s.color
        if s.search:
            assert s.configured, f"{s.name}: a search space needs settings"
            fields = {f for f in s.cls.Config.__dataclass_fields__}
            assert {d.name for d in s.search} - {"layers", "width"} <= fields
        assert set(s.quick) <= set(getattr(s.cls, "Config", object).__dict__.get(
            "__dataclass_fields__", {})), s.name


def test_a_registered_generator_runs_in_every_command(toy, tmp_path, capsys):
    # benchmark, in two worker processes: the record travels to the worker
    out = tmp_path / "bench"
    assert cli.main(["benchmark", "--models", "toy,random", "-n", "500", "--seeds", "2",
                     "--jobs", "2", "-q", "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "toy" in table
    r = json.loads((out / "benchmark_class1.json").read_text())
    assert r["models"]["toy"]["precision"]["mean"] > r["models"]["random"]["precision"]["mean"]

    # frontier: its knob swept over its own grid
    assert cli.main(["frontier", "--models", "toy", "-n", "500", "--seeds", "1", "-q",
                     "--json"]) == 0
    fr = json.loads(capsys.readouterr().out)
    assert [p["knob"] for p in fr["models"]["toy"]["points"]] == [1.0, 2.0, 4.0]

    # the study and its report
    d = tmp_path / "study"
    assert cli.main(["study", "--quick", "-q", "--seeds", "1", "--models", "toy,marginal",
                     "--frontier5-samples", "0", "-o", str(d)]) == 0
    res = json.loads((d / "results.json").read_text())
    assert res["settings"]["models"] == ["toy", "marginal"]
    assert res["experiments"]["class1"]["models"]["toy"]["n_fits"] == 1
    assert "toy" in res["frontier"]["class1"]["models"]
    html = (d / "report.html").read_text()
    assert "Toy generator" in html

