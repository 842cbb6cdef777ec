"""Sampling knobs (one per generator), hypervolume, and `elpagen frontier`."""

import json

import numpy as np
import pytest

from elpagen import cli, metrics
from elpagen.baselines import MarginalSampler, RandomScreening
from elpagen.errors import InputError
from elpagen.harness import frontier
from elpagen.models.dqn import DQNAgent
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.vae import ConditionalVAE

TINY = dict(steps=20, batch_size=64, device="cpu")


# --------------------------------------------------------------------------- hypervolume


def test_hypervolume_by_hand():
    # 0.8 * 0.2 (the precise point) + 0.5 * (0.5 - 0.2) (the strip the other adds) = 0.31
    assert metrics.hypervolume([(0.5, 0.5), (0.8, 0.2)]) == pytest.approx(0.31, abs=1e-12)
    assert metrics.hypervolume([(0.8, 0.2), (0.5, 0.5)]) == pytest.approx(0.31, abs=1e-12)
    # A dominated point and a duplicate add nothing; one point is its rectangle.
    assert metrics.hypervolume([(0.5, 0.5), (0.8, 0.2), (0.4, 0.1), (0.5, 0.5)]) == \
        pytest.approx(0.31, abs=1e-12)
    assert metrics.hypervolume([(0.6, 0.25)]) == pytest.approx(0.15)
    assert metrics.hypervolume([]) == 0.0
    with pytest.raises(ValueError):
        metrics.hypervolume([(np.nan, 0.2)])


def test_non_dominated():
    pts = [(0.5, 0.5), (0.8, 0.2), (0.4, 0.1), (0.5, 0.5), (0.8, 0.1)]
    assert frontier.non_dominated(pts) == [0, 1, 3]


# --------------------------------------------------------------------------- knobs


def _fitted(train):
    return {
        "marginal": MarginalSampler().fit(train),
        "vae": ConditionalVAE(seed=0, hidden=(32, 32), **TINY).fit(train),
        "gan": ConditionalWGAN(seed=0, hidden=(32,), **TINY).fit(train),
        "rl": DQNAgent(seed=0, hidden=(32, 32), **TINY).fit(train, 1),
    }


def test_knob_default_reproduces_sampling_exactly(train):
    for name, g in _fitted(train).items():
        assert g.knob and g.knob_value == g.knob_default, name
        assert g.knob_default in g.knob_grid and list(g.knob_grid) == sorted(g.knob_grid)
        before = g.sample(2000, 1, seed=5)
        at_default = g.with_knob(g.knob_default).sample(2000, 1, seed=5)
        assert at_default.n_drawn == before.n_drawn, name
        np.testing.assert_array_equal(at_default.codes, before.codes, err_msg=name)
        other = g.with_knob(g.knob_grid[0]).sample(2000, 1, seed=5)
        assert not np.array_equal(other.codes, before.codes), name
        assert g.knob_value == g.knob_default, f"{name}: with_knob changed the original"


def test_marginal_at_default_draws_what_it_drew_before_knobs(train):
    """Codes recorded with the sampler before knobs existed (same seed, same data)."""
    g = MarginalSampler().fit(train).with_knob(1.0)
    s = g.sample(2000, 1, seed=7)
    assert s.n_drawn == 2334
    assert s.codes[:4].tolist() == [704309, 1807697, 620147, 2301086]
    assert int(s.codes.astype(np.int64).sum()) == 2215085155


def test_knob_values_checked_and_carried(train):
    g = MarginalSampler().fit(train)
    for bad in (0, -1.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(InputError, match="temperature"):
            g.with_knob(bad)
    with pytest.raises(InputError, match="no sampling knob"):
        RandomScreening().with_knob(1.0)
    assert RandomScreening.knob is None
    rl = DQNAgent(seed=0, hidden=(16,), **TINY)
    assert rl.with_knob(0.0).config.beta == 0.0  # beta 0: uniform over allowed actions
    assert rl.with_knob(7.5).beta == 7.5 and rl.beta == 5.0
    vae = ConditionalVAE(seed=[0, 1], hidden=(16,), **TINY).fit(train)
    assert [m.prior_scale for m in vae.with_knob(0.5).members()] == [0.5, 0.5]
    assert frontier.knob_values(g, [2.0, 0.5]) == [0.5, 1.0, 2.0]  # the fitted value added
    assert frontier.knob_values(RandomScreening()) == [None]


def test_marginal_temperature_trades_precision_for_coverage(train, reference):
    """A real check on class 1 at a small budget: a hotter sampler is less precise and
    covers more of the class (over T = 0.25, 0.5, 1)."""
    g = MarginalSampler().fit(train)
    prec, cov = [], []
    for t in (0.25, 0.5, 1.0):
        s = g.with_knob(t).sample(2000, 1, seed=3)
        m = metrics.evaluate(s.codes, 1, reference.classes, train.codes, space=train.space)
        prec.append(m["precision"])
        cov.append(m["coverage"])
    assert prec[0] > prec[1] > prec[2], prec
    assert cov[0] < cov[1] < cov[2], cov


# --------------------------------------------------------------------------- the command


def test_frontier_command(capsys, tmp_path, reference):
    out = tmp_path / "fr"
    code = cli.main(["frontier", "--models", "vae,rl,marginal,random", "-c", "1", "-n", "300",
                     "--seeds", "2", "--set", "steps=20", "--grid", "rl=2,10",
                     "--grid", "vae=0.5,1.5", "--json", "-o", str(out)])
    js, err = capsys.readouterr()
    assert code == 0, err
    # --json: the JSON on stdout, no progress lines and no table on stderr (issue 27).
    assert "fitting" not in err and "hypervolume" not in err and "wrote" in err
    d = json.loads(js)
    assert json.loads((out / "frontier_class1.json").read_text()) == d
    assert (out / "frontier_class1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert d["published"]["vae"] == {"precision": 0.83, "coverage": 0.54}
    models = d["models"]
    assert list(models) == ["vae", "rl", "marginal", "random"]
    assert [p["knob"] for p in models["rl"]["points"]] == [2.0, 5.0, 10.0]
    assert [p["knob"] for p in models["vae"]["points"]] == [0.5, 1.0, 1.5]
    assert len(models["marginal"]["points"]) == len(MarginalSampler.knob_grid)
    assert [p["knob"] for p in models["random"]["points"]] == [None]
    for r in models.values():
        for p in r["points"]:
            for k in ("precision", "coverage", "js_distance"):
                assert set(p[k]) == {"mean", "std"} and 0 <= p[k]["mean"] <= 1
        knobs = [p["knob"] for p in r["points"]]
        assert r["front"] and set(r["front"]) <= set(knobs)
        hv = r["hypervolume"]
        assert len(hv["per_seed"]) == 2 and hv["mean"] == pytest.approx(np.mean(hv["per_seed"]))
        assert 0 <= hv["mean"] <= 1
    assert models["marginal"]["hypervolume"]["mean"] > models["random"]["hypervolume"]["mean"]
    # The written result is not replaced without --overwrite, checked before any work.
    code = cli.main(["frontier", "--models", "marginal", "-n", "300", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "already exists" in err


def test_frontier_bad_grid(capsys):
    for grid, match in (("random=1,2", "no sampling knob"), ("vae=0,1", "prior_scale"),
                        ("gan=1", "--grid"), ("marginal=a", "numbers")):
        code = cli.main(["frontier", "--models", "vae,marginal,random", "--grid", grid])
        _, err = capsys.readouterr()
        assert code == 2 and err.startswith("error: ") and match in err, (grid, err)
