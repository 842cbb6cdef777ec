import numpy as np
import pytest
import torch
from gof import gof_pvalue

from elpagen import catalogue
from elpagen.catalogue import load_model
from elpagen.errors import InputError
from elpagen.models.ar import ARConfig, ARModel
from elpagen.settings import ConfigError, resolve_config
from elpagen.spaces import ELPASOLITE as space

TINY = dict(hidden=(32, 32), element_hidden=(16,), embed=8, steps=30, batch_size=64,
            device="cpu")


def _weights(m):
    return {k: v.clone() for k, v in m.nets.state_dict().items()}


@pytest.fixture(scope="module")
def tiny(train):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield ARModel(seed=0, **TINY).fit(train)
    finally:
        torch.set_default_dtype(old)


def test_likelihood_is_normalised(tiny):
    """The exact likelihoods of a restricted set of compositions add up to the factors."""
    c = 3
    p_a = tiny.site_probabilities(np.empty((1, 0), np.int64), c)[0, 0]
    assert p_a.shape == (39,) and (p_a > 0).all() and p_a.sum() == pytest.approx(1, abs=1e-12)
    grid = space.all_codes()
    first = space.decode(grid)[:, 0]
    for a in (0, 17):  # sum over all 38 * 37 * 36 (B, C, D) of p(A B C D | c) = p(A | c)
        codes = grid[first == a]
        assert len(codes) == 38 * 37 * 36
        total = np.exp(tiny.log_prob(codes, c)[0]).sum()
        assert total == pytest.approx(p_a[a], rel=1e-9)
    a, b, cc = 8, 2, 18  # F, Li, K
    p_b = tiny.site_probabilities(np.array([[a]]), c)[0, 0]
    p_c = tiny.site_probabilities(np.array([[a, b]]), c)[0, 0]
    p_d = tiny.site_probabilities(np.array([[a, b, cc]]), c)[0, 0]
    assert p_b[a] == 0 and p_c[[a, b]].sum() == 0 and p_d[[a, b, cc]].sum() == 0
    unused = np.setdiff1d(np.arange(39), [a, b, cc])
    assert len(unused) == 36 and p_d[unused].sum() == pytest.approx(1, abs=1e-12)
    codes = space.encode(np.column_stack([np.full(36, a), np.full(36, b), np.full(36, cc),
                                          unused]))
    lp = tiny.log_prob(codes, c)[0]
    np.testing.assert_allclose(np.exp(lp), p_a[a] * p_b[b] * p_c[cc] * p_d[unused], rtol=1e-9)
    with pytest.raises(InputError, match="composition of the elpasolite space"):
        tiny.log_prob(np.array([space.encode(np.array([[1, 1, 2, 3]]))[0]]), c)


def test_every_sample_is_valid_and_seeded(tiny):
    raw = tiny.propose(3000, 1, np.random.default_rng(0))
    assert raw.shape == (3000,) and (raw >= 0).all()
    assert space.is_valid(space.decode(raw)).all()
    s1 = tiny.sample(2000, 2, seed=5)
    s2 = tiny.sample(2000, 2, seed=5)
    assert s1.n_drawn == 2000 and np.array_equal(s1.codes, s2.codes)


def test_deterministic_under_seed(train):
    s1 = ARModel(seed=7, **TINY).fit(train).sample(2000, 1, seed=1)
    s2 = ARModel(seed=7, **TINY).fit(train).sample(2000, 1, seed=1)
    assert np.array_equal(s1.codes, s2.codes) and s1.n_drawn == s2.n_drawn


def test_member_of_ensemble_equals_single_fit(train, float64):
    ens = ARModel(seed=[3, 4], **TINY).fit(train)
    single = ARModel(seed=4, **TINY).fit(train)
    a, b = _weights(ens.member(1)), _weights(single)
    for k in a:
        assert a[k].dtype == torch.float64
        torch.testing.assert_close(a[k], b[k], rtol=1e-7, atol=1e-9)
    w = ens.nets.state_dict()["context.net.0.weight"]
    assert not torch.allclose(w[0], w[1])
    codes = train.codes_of_class(1)
    np.testing.assert_allclose(ens.log_prob(codes, 1)[1], single.log_prob(codes, 1)[0],
                               rtol=1e-9)
    with pytest.raises(ValueError, match="member"):
        ens.held_out_nll(codes, 1)


def test_save_load_roundtrip(train, tmp_path):
    m = ARModel(seed=[0, 1], **TINY).fit(train)
    d = m.save(tmp_path / "ar")
    assert catalogue.get("ar").cls is ARModel
    loaded = load_model(d, device="cpu")
    assert loaded.seeds == [0, 1] and loaded.config == m.config
    a = m.member(1).sample(1000, 2, seed=3).codes
    b = loaded.member(1).sample(1000, 2, seed=3).codes
    assert np.array_equal(a, b)


def test_temperature_knob(tiny):
    assert ARModel.knob == "temperature" and ARModel.knob_default == 1.0
    assert ARModel.knob_grid[0] == 0.25 and ARModel.knob_grid[-1] == 2.0
    base = tiny.sample(2000, 1, seed=2).codes
    assert np.array_equal(tiny.with_knob(1.0).sample(2000, 1, seed=2).codes, base)
    hot = tiny.with_knob(2.0)
    assert tiny.temperature == 1.0 and hot.temperature == 2.0
    assert not np.array_equal(hot.sample(2000, 1, seed=2).codes, base)
    # a higher temperature flattens every factor
    def entropy(p):
        return -(p * np.log(p)).sum()

    first = np.empty((1, 0), np.int64)
    p1, p2 = tiny.site_probabilities(first, 1)[0, 0], hot.site_probabilities(first, 1)[0, 0]
    assert entropy(p2) > entropy(p1)
    # the likelihood follows the knob and stays normalised
    p = hot.site_probabilities(np.array([[8, 2, 18]]), 1)[0, 0]
    assert p.sum() == pytest.approx(1, abs=1e-12)
    with pytest.raises(InputError):
        tiny.with_knob(0.0)


def test_nucleus_keeps_only_the_top_of_each_site(tiny):
    """top_p < 1 samples only elements inside each site's nucleus of the fitted
    distribution, and top_p = 1 reproduces plain sampling exactly."""
    def with_config(**kw):
        return tiny.with_sampling(**kw)

    assert np.array_equal(with_config(top_p=1.0).sample(2000, 1, seed=4).codes,
                          tiny.sample(2000, 1, seed=4).codes)
    el = space.decode(with_config(top_p=0.5).sample(4000, 1, seed=4).codes)
    p = tiny.site_probabilities(np.empty((1, 0), np.int64), 1)[0, 0]
    order = np.argsort(-p)
    nucleus = order[: np.searchsorted(np.cumsum(p[order]), 0.5) + 1]
    assert set(np.unique(el[:, 0])) <= set(nucleus.tolist())
    assert len(nucleus) < space.sizes[0]


def test_table_is_the_sampling_distribution(tiny):
    """composition_table holds the distribution the site-by-site sampler draws from, and
    drawing from the table follows it: goodness of fit of both samplers' draws against the
    table, per composition (sparse bins pooled) and per (A, B) pair, on both table paths
    (inverse CDF below 1,974,024 draws, multinomial counts from it on)."""
    c = 2
    m = tiny.with_knob(0.1)  # peaked: ~6,000 compositions expect >= 5 of 200,000 draws
    tab = m.composition_table(c)
    grid = m.composition_distribution(c)
    np.testing.assert_allclose(grid[tab.codes], tab.probs * grid.sum(), rtol=1e-12)
    off = np.ones(len(grid), dtype=bool)
    off[tab.codes] = False
    assert not grid[off].any()  # no mass off the table
    assert tab.probs.sum() == pytest.approx(1, abs=1e-12) and tab.cdf[-1] == 1.0
    assert space.is_valid(space.decode(tab.codes)).all()
    pair = space.decode(tab.codes)[:, :2] @ np.array([space.sizes[0], 1])
    p_pair = np.bincount(pair, weights=tab.probs, minlength=space.sizes[0]**2)
    for n, tabulated in ((200_000, False), (200_000, True), (2_500_000, True)):
        codes = m.propose(n, c, np.random.default_rng(11), tabulated=tabulated)
        assert codes.shape == (n,) and codes.dtype == np.int64
        idx = np.searchsorted(tab.codes, codes)
        assert np.array_equal(tab.codes[idx], codes)  # every draw has p > 0
        counts = np.bincount(idx, minlength=len(tab.codes))
        assert gof_pvalue(counts, tab.probs) > 1e-4, (n, tabulated)
        got = space.decode(codes)[:, :2] @ np.array([space.sizes[0], 1])
        counts = np.bincount(got, minlength=space.sizes[0]**2)
        assert gof_pvalue(counts, p_pair) > 1e-4, (n, tabulated)


def test_large_requests_draw_from_the_table(tiny, train):
    """From table_min_draws draws per propose call on, ar draws from its table (built once
    per temperature and class, rebuilt after a refit); below it, and always with nucleus
    sampling, site by site. The default threshold leaves 10,000-sample runs alone."""
    assert ARModel.table_min_draws >= 1_000_000
    m = tiny.with_knob(1.0)
    m.table_min_draws = 5_000

    def draw(n, **kw):
        return m.propose(n, 3, np.random.default_rng(1), **kw)

    assert np.array_equal(draw(5_000), draw(5_000, tabulated=True))
    assert np.array_equal(draw(4_999), draw(4_999, tabulated=False))
    assert not np.array_equal(draw(5_000)[:4_999], draw(4_999))
    # sample() asks in rounds; a 12,000-sample request is one table call
    s = m.sample(12_000, 3, seed=0)
    assert s.n_drawn == 12_000 and np.array_equal(
        s.codes, m.composition_table(3).sample(12_600, np.random.default_rng(0))[:12_000])
    # one table per (temperature, class), cached; a knob copy builds its own
    t = m.composition_table(3)
    assert m.composition_table(3) is t
    hot = m.with_knob(2.0).composition_table(3)
    assert m.composition_table(3) is t and not np.allclose(hot.probs, t.probs)
    # nucleus sampling has no table: site by site whatever the size
    nuc = m.with_sampling(top_p=0.9)
    assert nuc.propose(6_000, 3, np.random.default_rng(0)).shape == (6_000,)
    with pytest.raises(InputError, match="nucleus"):
        nuc.composition_table(3)
    # guidance filters table draws like site-by-site ones
    guided = m.with_sampling(guidance=1.0)
    guided.table_min_draws = 1_000  # its first round asks for 600 / 0.5 * 1.1 proposals
    assert guided.sample(600, 3, seed=0).n_valid == 600
    assert m.composition_table(4) is not t
    t = m.composition_table(3)
    # a refit drops the table of the old weights
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        m.fit(train)
    finally:
        torch.set_default_dtype(old)
    assert m.composition_table(3) is not t


def test_guidance_is_exact_rejection_sampling(tiny, monkeypatch):
    """Guidance w keeps a proposal x with probability p(c | x)^w. With a posterior fixed
    by hand (1 where site A is the fitted model's favourite element, 1/2 elsewhere) the
    share of that element moves from p to p / (p + (1 - p) / 2^w)."""
    post = tiny.class_posterior(tiny.sample(50, 1, seed=1).codes, 1)
    total = sum(tiny.class_posterior(tiny.sample(50, 1, seed=1).codes, c) for c in range(1, 11))
    assert ((post >= 0) & (post <= 1)).all() and np.allclose(total, 1)

    guided = tiny.with_sampling(guidance=2.0)
    assert guided.nets is tiny.nets and tiny.config.guidance == 0
    with pytest.raises(InputError, match="sampling setting"):
        tiny.with_sampling(steps=3)
    plain = space.decode(tiny.sample(20_000, 1, seed=6).codes)[:, 0]
    fav = np.bincount(plain, minlength=space.sizes[0]).argmax()
    p = np.mean(plain == fav)
    monkeypatch.setattr(guided, "class_posterior", lambda codes, c: np.where(
        space.decode(codes)[:, 0] == fav, 1.0, 0.5))
    got = np.mean(space.decode(guided.sample(20_000, 1, seed=6).codes)[:, 0] == fav)
    assert got == pytest.approx(p / (p + (1 - p) / 4), abs=0.015)
    assert got > p + 0.05


def test_guided_filters_another_generator(tiny, train, monkeypatch):
    """Guided(base, judge, w) keeps a base proposal with probability p_judge(c | x)^w:
    with a hand-fixed posterior the share of one site-A element follows the formula;
    invalid proposals of the base still count as drawn."""
    from elpagen.baselines import MarginalSampler, RandomScreening
    from elpagen.models.ar import Guided

    base = MarginalSampler().fit(train).with_knob(3.0)
    plain = space.decode(base.sample(20_000, 1, seed=2).codes)[:, 0]
    fav = np.bincount(plain, minlength=space.sizes[0]).argmax()
    p = np.mean(plain == fav)
    judge = tiny.with_sampling()
    monkeypatch.setattr(judge, "class_posterior", lambda codes, c: np.where(
        space.decode(codes)[:, 0] == fav, 1.0, 0.5))
    g = Guided(base, judge, 1.0)
    assert g.knob == base.knob and g.with_knob(1.0).base.knob_value == 1.0
    got = np.mean(space.decode(g.sample(20_000, 1, seed=2).codes)[:, 0] == fav)
    assert got == pytest.approx(p / (p + (1 - p) / 2), abs=0.015)
    s = Guided(RandomScreening().fit(train), judge, 1.0).sample(5_000, 1, seed=0)
    assert s.n_drawn > s.n_valid == 5_000  # random proposals with repeats are invalid
    with pytest.raises(InputError, match="guidance"):
        Guided(base, judge, 0)
    with pytest.raises(InputError, match="judge"):
        Guided(base, base, 1.0)


def test_learns_and_generalises(train):
    """A short fit on a twin-grouped split: held-out class-1 compositions are far more
    likely than under a uniform draw, and more likely for class 1 than for class 10."""
    sub = train.subset(16_000, seed=0)
    held = np.setdiff1d(train.codes_of_class(1), sub.codes)
    assert len(held) > 10
    m = ARModel(seed=0, hidden=(32, 32), steps=200, batch_size=128, device="cpu").fit(sub)
    nll1 = m.held_out_nll(held, 1)
    assert nll1 < np.log(space.n_space) - 3
    assert nll1 < m.held_out_nll(held, 10)


def test_config():
    cfg = resolve_config(ARConfig, ARModel.PROTOCOLS, "paper", {"steps": "200",
                                                                "hidden": "64,64"})
    assert cfg.steps == 200 and cfg.hidden == (64, 64)
    for key, value in [("weight_decay", -1), ("embed", 0), ("element_hidden", (0,)),
                       ("lr", 0), ("top_p", 0), ("top_p", 1.5), ("guidance", -1)]:
        with pytest.raises(ConfigError, match="invalid setting"):
            ARModel(0, **{key: value})
    for protocol in ARModel.PROTOCOLS:
        resolve_config(ARConfig, ARModel.PROTOCOLS, protocol)


def test_a_temperature_sweep_evaluates_the_network_once_and_changes_no_bit(tiny,
                                                                          monkeypatch):
    """with_knob copies share every prefix's untempered logits (models.base.
    knob_free_outputs): the distributions of a sweep are those of fresh copies, to the bit,
    and the logits are evaluated again for another class."""
    from elpagen.models import base

    calls = []
    real = ARModel._prefix_logits
    monkeypatch.setattr(ARModel, "_prefix_logits", lambda self, pre, c: calls.append(c) or
                        real(self, pre, c))
    n_sites = tiny.fitted_space.n_sites
    base._KNOB_FREE.pop(tiny.nets, None)
    swept = {t: tiny.with_knob(t).composition_distribution(1) for t in (1.0, 0.5, 2.0)}
    assert calls == [1] * n_sites
    for t, p in swept.items():
        base._KNOB_FREE.pop(tiny.nets, None)
        assert np.array_equal(tiny.with_knob(t).composition_distribution(1), p)
    assert not np.allclose(swept[1.0], swept[0.5])  # the temperature still acts
    tiny.with_knob(0.5).composition_distribution(2)
    assert calls[-n_sites:] == [2] * n_sites
    assert abs(tiny.with_knob(0.5).composition_distribution(2).sum() - 1) < 1e-9
