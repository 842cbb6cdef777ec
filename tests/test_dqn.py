"""Tests of the offline double deep-Q agent (tiny networks, few steps)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gof import gof_pvalue

from elpagen.catalogue import load_model
from elpagen.models import dqn
from elpagen.models.dqn import (
    DQNAgent,
    DQNConfig,
    allowed_actions,
    encode_states,
    td_loss,
    td_targets,
)
from elpagen.settings import ConfigError, resolve_config
from elpagen.spaces import ELPASOLITE as space

TINY = {"hidden": (16, 16), "steps": 20, "batch_size": 32, "lr": 1e-3}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny nets gain nothing from threads, and 2 threads on a busy 2-core machine run
    # ~20x slower; restore the setting for the other test modules.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny(train) -> DQNAgent:
    return DQNAgent(0, device="cpu", **TINY).fit(train, 1)


def _weights(m: DQNAgent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.nets.state_dict().items()}


# --------------------------------------------------------------------------- masks


def test_true_training_actions_are_allowed(train):
    feats = space.to_features(train.elements)
    for t in range(8):
        mask = allowed_actions(space, feats, t)
        assert mask[np.arange(len(feats)), feats[:, t] - 1].all()
        if t % 2 == 0:
            assert not mask[:, 6:].any()  # rows 7 and 8 do not exist
    assert not allowed_actions(space, feats, 8).any()  # terminal state


def test_mask_examples():
    h, he = space.sites[0].elements.index("H"), space.sites[0].elements.index("He")
    f = space.to_features(np.array([[h, he, 2, 3]]))
    # Group step of A in row 1: only H (group 1) and He (group 8).
    assert allowed_actions(space, f, 1)[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 1]
    # After A = H: B in row 1 can only be He.
    assert allowed_actions(space, f, 3)[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    # After A = H, B = He: row 1 is used up for C, rows 2..6 remain.
    assert allowed_actions(space, f, 4)[0].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    # Row 6 stops at Bi (group 5).
    f6 = np.array([[6, 0, 0, 0, 0, 0, 0, 0]])
    assert allowed_actions(space, f6, 1)[0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]


def test_state_encoding_tells_filled_from_unfilled():
    f = np.array([[3, 4, 3, 4, 3, 4, 3, 4]])  # scales to all zeros
    s = np.concatenate([encode_states(space, f, t) for t in range(9)])
    assert np.allclose(s[:, :8], 0.0)
    assert len(np.unique(s, axis=0)) == 9  # the filled mask still separates the steps


def test_table_enumerates_exactly_the_space(tiny):
    tab = tiny.policy_table()
    assert tab.level_sizes == [1, 6, 39, 234, 1482, 8890, 54834, 328782]
    # Every allowed action sequence ends in a distinct valid composition, and all are reached.
    assert len(tab.codes) == space.n_space == 1_974_024
    assert np.array_equal(np.sort(tab.codes), space.all_codes())
    assert (tab.probs > 0).all()
    assert tab.probs.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- fit and propose


def test_propose_shapes_and_errors(train, tiny):
    rng = np.random.default_rng(0)
    for tabulated in (True, False):
        x = tiny.propose(500, 1, rng, tabulated=tabulated)
        assert x.shape == (500,) and np.issubdtype(x.dtype, np.integer)
        assert (x >= 0).all()
        assert space.is_valid(space.decode(x)).all()
    s = tiny.sample(1000, 1, seed=1)
    assert s.n_valid == 1000 and s.n_invalid == 0
    with pytest.raises(ValueError, match="trained for class 1"):
        tiny.propose(10, 5, rng)
    with pytest.raises(ValueError, match="target_class"):
        DQNAgent(0, device="cpu", **TINY).fit(train)
    both = DQNAgent([0, 1], device="cpu", **{**TINY, "steps": 2}).fit(train, 1)
    with pytest.raises(ValueError, match=r"member\(i\)"):
        both.propose(10, 1, rng)
    assert len(both.history["loss"][-1]) == 2
    assert np.isfinite(both.history["loss"]).all()
    with pytest.raises(RuntimeError, match="not fitted"):
        DQNAgent(0, device="cpu").propose(10, 1, rng)


def test_determinism(train, tiny):
    again = DQNAgent(0, device="cpu", **TINY).fit(train, 1)
    for k, v in _weights(tiny).items():
        assert torch.equal(v, _weights(again)[k])
    for tabulated in (True, False):
        a = tiny.propose(2000, 1, np.random.default_rng(5), tabulated=tabulated)
        b = again.propose(2000, 1, np.random.default_rng(5), tabulated=tabulated)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("unit", ["transition", "episode"])
def test_members_are_independent_fits(train, float64, unit):
    # float64 (conftest): Adam amplifies float32 round-off of a BLAS that sums in another
    # order for K = 3 than for K = 1, which would test the BLAS rather than the ensemble.
    cfg = {**TINY, "steps": 15, "target_sync": 4, "batch_unit": unit}
    batched = DQNAgent([3, 4, 5], device="cpu", **cfg).fit(train, 2)
    single = DQNAgent(4, device="cpu", **cfg).fit(train, 2)
    w_b, w_s = _weights(batched.member(1)), _weights(single)
    for k in w_s:
        assert torch.allclose(w_b[k], w_s[k], atol=1e-6), k
    # A different seed really gives different weights.
    assert not torch.allclose(_weights(batched.member(0))["q.net.0.weight"], w_s["q.net.0.weight"])


def _marginal_tests(codes: np.ndarray, tab_codes: np.ndarray, tab_p: np.ndarray) -> float:
    """Smallest p-value over the per-site element and the (A, B) pair distributions."""
    el, tel = space.decode(codes), space.decode(tab_codes)
    pvals = []
    for s in range(4):
        cnt = np.bincount(el[:, s], minlength=39)
        pvals.append(gof_pvalue(cnt, np.bincount(tel[:, s], weights=tab_p, minlength=39)))
    ab, tab_ab = el[:, 0] * 39 + el[:, 1], tel[:, 0] * 39 + tel[:, 1]
    pvals.append(gof_pvalue(np.bincount(ab, minlength=39 * 39),
                             np.bincount(tab_ab, weights=tab_p, minlength=39 * 39)))
    return min(pvals)


def test_tabulated_and_stepwise_sampling_agree(tiny):
    # A large beta makes the untrained policy far from uniform, so the test has power.
    m = DQNAgent(0, device="cpu", **{**TINY, "beta": 20.0})
    m.nets, m.target_class, m.space = tiny.nets, 1, tiny.space
    tab = m.policy_table()
    p_a = tab.probs[np.argsort(tab.codes)]
    assert p_a.max() / p_a.min() > 1e3  # far from uniform
    n = 60_000
    step = m.propose(n, 1, np.random.default_rng(11), tabulated=False)
    table = m.propose(n, 1, np.random.default_rng(12), tabulated=True)
    alpha = 1e-4 / 20  # Bonferroni over the 4 x 5 tests below
    assert _marginal_tests(step, tab.codes, tab.probs) > alpha
    assert _marginal_tests(table, tab.codes, tab.probs) > alpha
    # Large draws use multinomial counts in a random order: right counts, and no order
    # (a prefix of the draws has the same distribution).
    big = tab.sample(2_500_000, np.random.default_rng(14))
    assert len(big) == 2_500_000
    assert _marginal_tests(big, tab.codes, tab.probs) > alpha
    assert _marginal_tests(big[:n], tab.codes, tab.probs) > alpha
    # Power: beta applied differently in the step-by-step path must be detected ...
    m.config = dataclasses.replace(m.config, beta=12.0)
    other = m.propose(n, 1, np.random.default_rng(13), tabulated=False)
    assert _marginal_tests(other, tab.codes, tab.probs) < 1e-8
    # ... and the cached table is rebuilt for the new beta.
    assert m.policy_table() is not tab and m.policy_table().beta == 12.0
    assert m.policy_table() is m.policy_table()


def test_save_load_round_trip(tiny, tmp_path):
    tiny.save(tmp_path / "rl")
    back = load_model(tmp_path / "rl", device="cpu")
    assert isinstance(back, DQNAgent) and back.target_class == 1
    assert back.config == tiny.config
    for tabulated in (True, False):
        a = tiny.propose(3000, 1, np.random.default_rng(7), tabulated=tabulated)
        b = back.propose(3000, 1, np.random.default_rng(7), tabulated=tabulated)
        assert np.array_equal(a, b)


def test_training_conditions_on_the_class(train, tiny):
    """A briefly trained class-1 agent puts far more mass on training class-1
    compositions and elements than an untrained one."""
    cfg = {"hidden": (64, 64), "steps": 300, "batch_size": 128, "lr": 2e-3}
    trained = DQNAgent(0, device="cpu", **cfg).fit(train, 1)
    untrained = DQNAgent(0, device="cpu", **cfg)  # steps=0 is refused: initialise only
    untrained.space = train.space
    untrained._init_networks()
    untrained.target_class = 1
    c1 = train.codes_of_class(1)
    p1 = space.decode(c1)

    def mass(m: DQNAgent) -> tuple[float, float]:
        codes, probs = m.composition_probabilities()
        el = space.decode(codes)
        # Probability of a training class-1 composition, and of a site holding an element
        # seen on that site in training class 1.
        on_site = np.mean([np.isin(el[:, s], p1[:, s]) for s in range(4)], axis=0)
        return float(probs[np.isin(codes, c1)].sum()), float(probs @ on_site)

    (m_t, e_t), (m_u, e_u) = mass(trained), mass(untrained)
    assert m_t > 10 * max(m_u, len(c1) / space.n_space)
    assert e_t > e_u + 0.1


# --------------------------------------------------------------------------- the loss by hand


def _table(rows: list[list[float]]) -> torch.Tensor:
    """(1, M, 8) Q-values of one member, one row per transition."""
    return torch.tensor([rows], dtype=torch.float64)


def test_double_dqn_target_by_hand():
    """y = r + gamma * Q_target(s', argmax over allowed a' of Q_online(s', a')); y = r at the end.

    The nets are fixed tables (they ignore the state), so every number is checked by hand.
    """
    q_online = _table([
        [5, 1, 3, 0, 0, 0, 0, 0],  # best allowed: a = 2 (a = 0 is higher but not allowed)
        [9, 9, 9, 9, 9, 9, 9, 9],  # final step: not used
        [0, 0, 0, 0, 0, -2, 6, 0.5],  # best allowed: a = 7 (a = 6 not allowed)
        [1, 2, 3, 4, 5, 6, 7, 8],  # final step: not used
    ])
    q_target = _table([
        [100, 7, 2, -1, 0, 0, 0, 0],
        [4, 4, 4, 4, 4, 4, 4, 4],
        [0, 0, 0, 0, 0, 3, 9, -4],
        [-5, -5, -5, -5, -5, -5, -5, -5],
    ])
    allowed = torch.tensor([[
        [0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],  # terminal: nothing allowed
        [0, 0, 0, 0, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]], dtype=torch.bool)
    reward = torch.tensor([[0.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    done = torch.tensor([[False, True, False, True]])
    s_next = torch.zeros(1, 4, 16, dtype=torch.float64)
    y = td_targets(lambda s: q_online, lambda s: q_target, s_next, allowed, reward, done, 0.9)
    # Row 0: online picks a = 2, target says 2 -> 0.9 * 2. Row 1: final step, y = r = +1.
    # Row 2: online picks a = 7, target says -4 -> 0.9 * -4. Row 3: final step, y = r = -1.
    # Wrong variants give: nets swapped [0.9, 1, -1.8, -1]; bootstrap at the end
    # [1.8, 4.6, -3.6, -5.5]; no mask [90, ..., 8.1, ...]; max of the target [6.3, ...].
    torch.testing.assert_close(y, torch.tensor([[1.8, 1.0, -3.6, -1.0]], dtype=torch.float64))


def test_td_loss_units_by_hand():
    q_sa = torch.arange(16, dtype=torch.float64)[None]  # one member, 16 transitions
    y = torch.zeros_like(q_sa)
    # Transitions: mean of i^2 over 0..15 = 1240 / 16.
    assert td_loss(q_sa, y, 1).item() == pytest.approx(77.5)
    # Episodes (Eq. 15): sum over each episode's 8 pairs (140 and 1100), mean over episodes.
    assert td_loss(q_sa, y, space.n_features).item() == pytest.approx(620.0)


@pytest.mark.parametrize("unit", ["transition", "episode"])
def test_training_loop_feeds_the_target(train, monkeypatch, unit):
    """The loop passes the online net to pick and the frozen target copy to evaluate,
    marks exactly the final steps as done, and (episode unit) lays out whole episodes."""
    calls = []
    real = dqn.td_targets

    def spy(online, target, s_next, allowed_next, reward, done, gamma):
        pairs = zip(online.parameters(), target.parameters(), strict=True)
        same = all(torch.equal(p, q) for p, q in pairs)
        calls.append((online, target, same, s_next.clone(), allowed_next, reward, done, gamma))
        return real(online, target, s_next, allowed_next, reward, done, gamma)

    monkeypatch.setattr(dqn, "td_targets", spy)
    cfg = {**TINY, "steps": 5, "batch_size": 6, "target_sync": 3, "gamma": 0.75}
    m = DQNAgent([0, 1], device="cpu", batch_unit=unit, **cfg).fit(train, 1)
    assert len(calls) == 5
    per = space.n_features if unit == "episode" else 1
    for step, (online, target, same, s_next, allowed, r, done, gamma) in enumerate(calls):
        assert online is m.nets["q"] and target is not online
        assert all(p.requires_grad for p in online.parameters())
        assert not any(p.requires_grad for p in target.parameters())
        assert same == (step % 3 == 0)  # synchronised before updates 0 and 3 only
        assert gamma == 0.75 and s_next.shape == (2, 6 * per, 16)
        # done <=> s' has every position filled; reward +-1 there, 0 elsewhere.
        assert torch.equal(done, (s_next[..., 8:] == 1).all(-1))
        assert torch.equal(r.abs() == 1, done) and not (r[~done]).any()
        assert not allowed[done].any() and allowed[~done].any(-1).all()
        if unit == "episode":
            # Steps 0..7 of one composition per block of 8: prefixes of its final state.
            blocks = s_next.unflatten(1, (6, space.n_features))
            assert done.unflatten(1, (6, space.n_features))[..., -1].all()
            assert done.sum().item() == 2 * 6
            final = blocks[:, :, -1:, :8]
            assert torch.equal(blocks[..., :8], final * blocks[..., 8:])


def test_batch_unit_setting():
    assert DQNAgent.PROTOCOLS["paper"].batch_unit == "episode"
    assert DQNAgent.PROTOCOLS["fast"].batch_unit == "transition"
    cfg = resolve_config(DQNConfig, DQNAgent.PROTOCOLS, "fast", {"batch_unit": "episode"})
    assert cfg.batch_unit == "episode"
    with pytest.raises(ConfigError, match=r"batch_unit='episodes'.*'transition', 'episode'"):
        resolve_config(DQNConfig, DQNAgent.PROTOCOLS, "fast", {"batch_unit": "episodes"})
    with pytest.raises(ValueError, match="batch_unit"):
        DQNAgent(0, device="cpu", batch_unit="step")


def test_a_beta_sweep_evaluates_the_network_once_and_changes_no_bit(tiny, monkeypatch):
    """with_knob copies share the Q-values of every level (models.base.knob_free_outputs):
    the tables of a sweep are those of fresh copies, to the bit."""
    from elpagen.models import base

    calls = []
    real = DQNAgent.q_values
    monkeypatch.setattr(DQNAgent, "q_values", lambda self, f, t: calls.append(t) or
                        real(self, f, t))
    base._KNOB_FREE.pop(tiny.nets["q"], None)
    swept = {b: tiny.with_knob(b).policy_table() for b in (1.0, 3.0, 0.0)}
    assert len(calls) == 8  # one evaluation per level, not one per level and beta
    for b, tab in swept.items():
        base._KNOB_FREE.pop(tiny.nets["q"], None)
        fresh = tiny.with_knob(b).policy_table()
        assert np.array_equal(fresh.codes, tab.codes) and np.array_equal(fresh.probs, tab.probs)
    assert len(calls) == 8 + 3 * 8
    assert not np.array_equal(swept[1.0].probs, swept[3.0].probs)  # beta still acts
