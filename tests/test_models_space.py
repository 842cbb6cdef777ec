"""Every built-in model fits and samples in a space other than the elpasolite: three sites
of different sizes, IUPAC groups up to 17 (so 17 actions, groups beyond 8), no symmetry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_space import TOY

from elpagen import data
from elpagen.catalogue import load_model
from elpagen.models.ar import ARModel
from elpagen.models.dqn import DQNAgent
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.gfn import GFNModel
from elpagen.models.persistence import ModelLoadError
from elpagen.models.regressor import EnergyRegressor, RegressorConfig
from elpagen.models.vae import ConditionalVAE
from elpagen.space import CompositionSpace
from elpagen.spaces import ELPASOLITE

AR_TINY = dict(hidden=(16, 16), element_hidden=(8,), embed=4, steps=15, batch_size=32,
               device="cpu")
#: name -> (class, tiny settings, fit needs the target class)
MODELS = {
    # The VAE and GAN decode (period, group) outputs: a few dozen updates before any lands
    # on a toy element, the groups being sparse.
    "vae": (ConditionalVAE, dict(hidden=(16, 16), latent=3, steps=100, batch_size=32,
                                 lr=3e-3, device="cpu"), False),
    "gan": (ConditionalWGAN, dict(hidden=(32,), steps=60, critic_steps=2, batch_size=32,
                                  lr=3e-3, device="cpu"), False),
    "rl": (DQNAgent, dict(hidden=(16, 16), steps=20, batch_size=16, lr=1e-3, device="cpu"),
           True),
    "ar": (ARModel, AR_TINY, False),
    "gfn": (GFNModel, dict(AR_TINY, steps=5, reward_steps=20), False),
}


@pytest.fixture(scope="module")
def toy_train() -> data.TrainingSet:
    """150 of the 210 compositions, with an energy smooth in the features plus noise."""
    rng = np.random.default_rng(0)
    codes = TOY.all_codes()
    f = TOY.to_features(TOY.decode(codes)).astype(np.float64)
    energy = 0.1 * f[:, 0] - 0.05 * f[:, 3] + 0.02 * f[:, 5] + 0.01 * f[:, 4] ** 1.5
    energy += rng.normal(0, 0.02, len(codes))
    pick = np.sort(rng.choice(len(codes), 150, replace=False))
    e = energy[pick]
    return data.TrainingSet(codes[pick], e, data.EnergyClasses.from_energies(e), space=TOY)


def _check_codes(codes: np.ndarray, n: int, *, all_valid: bool) -> None:
    assert codes.shape == (n,) and np.issubdtype(codes.dtype, np.integer)
    ok = codes[codes >= 0]
    assert (ok < TOY.n_grid).all() and len(ok)
    assert TOY.is_valid(TOY.decode(ok)).all()
    if all_valid:
        assert len(ok) == n


def test_toy_space_is_what_the_test_assumes(toy_train):
    assert TOY.sizes == (5, 6, 7) and TOY.n_grid == TOY.n_space == 210
    assert TOY.n_groups == 17 and not TOY.symmetries  # 17 actions for the agent
    assert (toy_train.class_counts() > 0).sum() >= 5 and (toy_train.classes == 1).any()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_fit_and_sample_in_the_toy_space(name, toy_train, tmp_path):
    cls, tiny, per_class = MODELS[name]
    m = cls(seed=0, **tiny).fit(toy_train, 1 if per_class else None)
    assert m.space == TOY
    codes = m.propose(4000, 1, np.random.default_rng(1))
    # The VAE and GAN decode network outputs (some rows invalid: -1); the others never miss.
    _check_codes(codes, 4000, all_valid=name not in ("vae", "gan"))
    # A saved model records its space and samples in it when loaded.
    loaded = load_model(m.save(tmp_path / name), device="cpu")
    assert loaded.space == TOY
    again = loaded.propose(4000, 1, np.random.default_rng(1))
    assert np.array_equal(again, codes)


def test_ensembles_hand_their_space_to_the_members(toy_train):
    m = ARModel(seed=[0, 1], **AR_TINY).fit(toy_train)
    for member in m.members():
        assert member.space == TOY
        _check_codes(member.propose(100, 2, np.random.default_rng(0)), 100, all_valid=True)


def test_exact_distributions_cover_the_toy_space(toy_train):
    """ar's table and the agent's policy table are distributions over the toy grid; every
    step-by-step draw is a toy composition too."""
    ar = ARModel(seed=0, **AR_TINY).fit(toy_train)
    p = ar.composition_distribution(1)
    assert p.shape == (TOY.n_grid,) and p.sum() == pytest.approx(1.0)
    lp = ar.log_prob(TOY.all_codes(), 1)[0]
    assert np.exp(lp).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.exp(lp), p[TOY.all_codes()], rtol=1e-5, atol=1e-12)
    _check_codes(ar.propose(300, 1, np.random.default_rng(2), tabulated=True), 300,
                 all_valid=True)
    rl = DQNAgent(seed=0, **MODELS["rl"][1]).fit(toy_train, 1)
    codes, probs = rl.composition_probabilities()
    assert np.array_equal(np.sort(codes), TOY.all_codes())  # every composition reachable
    assert probs.sum() == pytest.approx(1.0)
    _check_codes(rl.propose(300, 1, np.random.default_rng(3), tabulated=False), 300,
                 all_valid=True)


def test_regressor_predicts_toy_codes(toy_train):
    r = EnergyRegressor(0, RegressorConfig(hidden=(16,), steps=50)).fit(toy_train)
    pred = r.predict(TOY.all_codes())
    assert pred.shape == (TOY.n_space,) and np.isfinite(pred).all()


def test_model_directories_without_a_space_load_in_the_default(train, tmp_path):
    """Directories saved before spaces were recorded hold elpasolite models: they load in
    it; a recorded space that is not one is a load error."""
    m = ConditionalVAE(seed=0, **{**MODELS["vae"][1], "steps": 3}).fit(train)
    d = m.save(tmp_path / "old")
    manifest = json.loads((d / "model.json").read_text())
    assert CompositionSpace.from_dict(manifest["space"]) == ELPASOLITE
    del manifest["space"]
    (d / "model.json").write_text(json.dumps(manifest))
    loaded = load_model(d, device="cpu")
    assert loaded.space == ELPASOLITE
    rng = np.random.default_rng
    assert np.array_equal(loaded.propose(500, 1, rng(0)), m.propose(500, 1, rng(0)))
    manifest["space"] = {"name": "broken", "sites": []}
    (d / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="composition space"):
        load_model(d, device="cpu")
