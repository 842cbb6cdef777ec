import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from elpagen import catalogue
from elpagen.catalogue import load_model
from elpagen.models.gfn import EnergyReward, GFNConfig, GFNModel, trajectory_balance
from elpagen.models.sites import element_features
from elpagen.settings import ConfigError, config_docs, resolve_config
from elpagen.spaces import ELPASOLITE as space

TINY = dict(hidden=(32, 32), element_hidden=(16,), embed=8, steps=30, batch_size=64,
            reward_steps=40, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread, as the CLI runs (small networks; a second thread on a busy
    machine makes every step wait at OpenMP barriers: docs/design.md, "Threads")."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _weights(m):
    return {k: v.clone() for k, v in m.nets.state_dict().items()}


@pytest.fixture(scope="module")
def tiny(train):
    return GFNModel(seed=0, **TINY).fit(train)


class SiteAReward:
    """A reward of the first site alone: R_c(x) = w_c[A], log w_c a linear function of A's
    scaled (row, group) with a direction of its own per class (smooth in the features, as
    an energy is), so the target distribution of A is w_c / sum(w_c)."""

    def __init__(self) -> None:
        x = element_features(space)
        x = (x - x.mean(0)) / x.std(0)
        angle = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        self.log_w = 1.5 * np.stack([np.cos(angle), np.sin(angle)], 1) @ x.T  # (10, 39)

    def log_reward(self, codes, classes):
        return self.log_w[np.asarray(classes) - 1, space.decode(codes)[:, 0]]


class ToyGFN(GFNModel):
    def make_reward(self, train, seed):
        return SiteAReward()


def test_trajectory_balance_by_hand(tiny, train):
    """TB loss = (log Z_c + sum_t log P_F(s_t) - log R)^2, with log P_F the product of the
    policy's four site probabilities, on one hand-checked composition."""
    assert trajectory_balance(torch.tensor([[1.0, 0.5]]), torch.tensor([[-3.0, -2.0]]),
                              torch.tensor([[-4.0, 0.0]])).tolist() == [pytest.approx(3.125)]
    a, b, c, d = 8, 2, 18, 16  # F Li K Cl
    code = space.encode(np.array([[a, b, c, d]]))
    reward = EnergyReward(train, 0, GFNConfig(reward_steps=40, sigma=0.5, beta=2.0))
    mu = float(reward.regressor.predict(code)[0])
    cls = int(train.energy_classes.assign(np.array([mu]))[0])  # a class with a real reward
    p = [tiny.site_probabilities(np.array([pre]), cls)[0, 0] if pre else
         tiny.site_probabilities(np.empty((1, 0), np.int64), cls)[0, 0]
         for pre in ([], [a], [a, b], [a, b, c])]
    log_pf = math.log(p[0][a] * p[1][b] * p[2][c] * p[3][d])
    assert tiny.log_prob(code, cls)[0, 0] == pytest.approx(log_pf, rel=1e-5)
    edges = train.energy_classes.edges  # classes 1 and 10 are open-ended
    lo = -math.inf if cls == 1 else edges[cls - 1]
    hi = math.inf if cls == 10 else edges[cls]

    def phi(z):
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    p_class = phi((hi - mu) / 0.5) - phi((lo - mu) / 0.5)
    log_r = max(2.0 * math.log(p_class), math.log(1e-6))
    assert reward.log_reward(code, np.array([cls]))[0] == pytest.approx(log_r, rel=1e-9)
    log_z = 0.7
    loss = trajectory_balance(torch.tensor([[log_z]]), torch.tensor([[log_pf]]),
                              torch.tensor([[log_r]]))
    assert float(loss[0]) == pytest.approx((log_z + log_pf - log_r) ** 2, rel=1e-5)


def test_reward_prefers_the_class(train):
    """A short regressor fit already rewards the training compositions of class 1 more for
    class 1 than those of class 10, and the other way round."""
    reward = EnergyReward(train, 0, GFNConfig(reward_steps=200, sigma=1.0))
    low, high = train.codes_of_class(1), train.codes_of_class(10)

    def median(codes, c):
        return np.median(reward.log_reward(codes, np.full(len(codes), c)))

    assert median(low, 1) > median(high, 1) + 1 and median(high, 10) > median(low, 10) + 1


def test_samples_in_proportion_to_the_reward(train):
    """With a reward of site A alone, the sampled distribution of A follows the reward,
    per class (a policy ignoring the reward or the class fails this)."""
    m = ToyGFN(seed=0, hidden=(64, 64), element_hidden=(32,), embed=16, steps=300,
               batch_size=128, replay=0.0, epsilon=0.1, lr=3e-3, lr_log_z=0.3,
               device="cpu").fit(train)
    w = np.exp(SiteAReward().log_w)
    target = w / w.sum(1, keepdims=True)
    for c, other in ((1, 6), (6, 1)):  # opposite preferences
        a = space.decode(m.sample(20_000, c, seed=c).codes)[:, 0]
        freq = np.bincount(a, minlength=39) / len(a)
        assert np.corrcoef(freq, target[c - 1])[0, 1] > 0.95
        assert 0.5 * np.abs(freq - target[c - 1]).sum() < 0.1
        assert np.corrcoef(freq, target[other - 1])[0, 1] < 0
        # log Z_c approaches log sum_x R_c(x) = log(38 * 37 * 36 * sum(w_c))
        log_z = m.nets["log_z"].value[0, c - 1].item()
        assert log_z == pytest.approx(math.log(38 * 37 * 36 * w[c - 1].sum()), abs=0.3)


def test_every_sample_is_valid_and_seeded(tiny):
    raw = tiny.propose(3000, 1, np.random.default_rng(0))
    assert raw.shape == (3000,) and (raw >= 0).all()
    assert space.is_valid(space.decode(raw)).all()
    s1, s2 = tiny.sample(2000, 2, seed=5), tiny.sample(2000, 2, seed=5)
    assert s1.n_drawn == 2000 and np.array_equal(s1.codes, s2.codes)
    assert not np.array_equal(tiny.sample(2000, 2, seed=6).codes, s1.codes)
    assert len(tiny.history["loss"]) == 2 and len(tiny.history["log_z_class1"]) == 2


def test_deterministic_under_seed(train):
    s1 = GFNModel(seed=7, **TINY).fit(train).sample(2000, 1, seed=1)
    s2 = GFNModel(seed=7, **TINY).fit(train).sample(2000, 1, seed=1)
    assert np.array_equal(s1.codes, s2.codes)


def test_member_of_ensemble_equals_single_fit(train, float64):
    ens = GFNModel(seed=[3, 4], **TINY).fit(train)
    single = GFNModel(seed=4, **TINY).fit(train)
    a, b = _weights(ens.member(1)), _weights(single)
    assert "log_z.value" in a
    for k in a:
        assert a[k].dtype == torch.float64
        torch.testing.assert_close(a[k], b[k], rtol=1e-7, atol=1e-9)
    w = ens.nets.state_dict()["context.net.0.weight"]
    assert not torch.allclose(w[0], w[1])
    assert np.array_equal(ens.member(1).sample(1000, 1, seed=2).codes,
                          single.sample(1000, 1, seed=2).codes)


def test_single_site_logits_match_all_sites(tiny):
    """The rollout's one-site logits are the teacher-forced logits of that site."""
    nets = tiny.nets
    el = torch.from_numpy(space.decode(tiny.propose(50, 3, np.random.default_rng(1))))[None]
    y = torch.full((1, 50), 2)
    full = tiny._site_logits(nets, el, y)
    for s in range(4):
        torch.testing.assert_close(tiny._site_logits(nets, el, y, site=s), full[:, :, s])


def test_save_load_and_knob(tiny, tmp_path):
    assert catalogue.get("gfn").cls is GFNModel
    d = tiny.save(tmp_path / "gfn")
    loaded = load_model(d, device="cpu")
    assert loaded.config == tiny.config
    assert np.array_equal(loaded.sample(1000, 2, seed=3).codes, tiny.sample(1000, 2, seed=3).codes)
    assert GFNModel.knob == "temperature" and GFNModel.knob_default == 1.0
    base = tiny.sample(2000, 1, seed=2).codes
    assert np.array_equal(tiny.with_knob(1.0).sample(2000, 1, seed=2).codes, base)
    assert not np.array_equal(tiny.with_knob(0.5).sample(2000, 1, seed=2).codes, base)


def test_config():
    cfg = resolve_config(GFNConfig, GFNModel.PROTOCOLS, "paper", {"beta": "2", "epsilon": "0"})
    assert cfg.beta == 2.0 and cfg.epsilon == 0.0
    for key, value in [("beta", 0), ("sigma", -1), ("floor", 0), ("floor", 2), ("replay", 1.5),
                       ("epsilon", -0.1), ("reward_steps", 0), ("lr_log_z", 0)]:
        with pytest.raises(ConfigError, match="invalid setting"):
            GFNModel(0, **{key: value})
    docs = config_docs(GFNConfig)
    assert all(docs.values()), [k for k, v in docs.items() if not v]
    assert "Trajectory-balance" in docs["steps"] and "context network" in docs["hidden"]
    for protocol in GFNModel.PROTOCOLS:
        resolve_config(GFNConfig, GFNModel.PROTOCOLS, protocol)


def test_never_imports_the_oracle(data_path):
    """The GFlowNet, its reward and the surrogate it fits never load the reference
    energies (tests/test_architecture.py checks the imports statically as well)."""
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from elpagen import data
        from elpagen.models.gfn import GFNModel
        train = data.load_training_set({str(data_path)!r})
        g = GFNModel(seed=0, hidden=(8,), element_hidden=(8,), embed=4, steps=3,
                     batch_size=16, reward_steps=5, device="cpu").fit(train)
        assert len(g.propose(100, 1, np.random.default_rng(0))) == 100
        print("ORACLE LOADED" if "elpagen.reference" in sys.modules else "ORACLE NOT LOADED")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr
    assert "ORACLE NOT LOADED" in r.stdout
