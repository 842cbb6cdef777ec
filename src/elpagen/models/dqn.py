"""Offline double deep-Q agent, one per target class (docs/method.md section 6).

Everything is sized by the training set's composition space (``self.space``); the numbers
in brackets are the elpasolite's (4 sites of 39 main-group elements, periods 1..6, main
groups 1..8).

Episode: one step per position of the space's (period, group) vector (``n_features``
steps [8]: row_A, group_A, row_B, ..., group_D), left to right.

* State: the scaled vector with unfilled positions set to 0, concatenated with a filled
  mask (1 = filled) [16-D]. The mask is needed because 0 is also a legal scaled value (row
  3 and group 4 scale to 0); it also tells the network the step number.
* Actions: one head of ``max(n_rows, n_groups)`` outputs [8]; action a sets the next
  position to a + 1. On a row step the actions past the last period [rows 7 and 8] are
  masked like every other disallowed action (and past the last group on a group step).
* Allowed actions (:func:`allowed_actions`): a row must still hold an element of the site
  that no earlier site uses (when the space asks for distinct elements); a group must name
  an element of the site in the chosen row that no earlier site uses. Every allowed partial
  state of a space whose sites share one element list can therefore be completed, and
  every episode ends in a composition of the space.
* Reward: 0 before the last step; at the final step +1 when the composition's training
  class is the target class, -1 otherwise. Offline: transitions come only from training
  compositions, drawn class-balanced (docs/method.md section 3).
* Loss: (Q(s, a) - y)^2 with y = r + gamma * Q_target(s', argmax_{a' allowed} Q(s', a'))
  (double DQN: the online net picks, the target net evaluates; :func:`td_targets`), no
  bootstrap at the end. The target net is a copy of the online net, refreshed every
  ``target_sync`` updates. What one batch holds is the setting ``batch_unit``
  (:class:`DQNConfig`, :func:`td_loss`): ``batch_size`` single transitions (step t uniform
  over the episode's steps) or ``batch_size`` whole episodes (all steps, errors summed per
  episode).
* Generation: every action is drawn from softmax(beta * Q(s, .)) over the allowed actions.

Sampling at scale uses a *policy table*: the agent meets few distinct non-terminal states
[394,268: 1 + 6 + 39 + 234 + 1,482 + 8,890 + 54,834 + 328,782 at steps 0..7], so Q is
evaluated once per state, level by level, and the product of the action probabilities along
each path gives the exact probability of each composition of the space. Drawing N episodes is then
N categorical draws over the compositions (the same distribution as acting step by step, by
the chain rule) with no loop over samples: inverse CDF (``searchsorted``) for small N,
multinomial counts in a uniformly random order for large N. ``propose(..., tabulated=False)``
acts step by step instead, running the network on the batch of states at every step.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from elpagen.data import TrainingSet
from elpagen.generator import CompositionTable
from elpagen.models.base import TorchEnsembleGenerator, knob_free_outputs
from elpagen.models.ensemble import BalancedBatches, EnsembleMLP, MemberRandom
from elpagen.models.sites import n_actions, n_steps, site_actions
from elpagen.models.training import ensemble_step, progress_steps
from elpagen.settings import (
    BATCH_SIZE,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    PROBABILITY,
    WIDTHS,
    ConfigError,
    Setting,
    ValidatedConfig,
)
from elpagen.space import CompositionSpace

#: Values of :attr:`DQNConfig.batch_unit`.
BATCH_UNITS = ("transition", "episode")


@dataclass(frozen=True)
class DQNConfig(ValidatedConfig):
    """Settings of the agent. The defaults are the paper's, except ``batch_unit``.

    ``batch_unit`` says what ``batch_size`` counts:

    * ``"transition"``: ``batch_size`` single transitions, each a class-balanced training
      composition with a step t uniform over the episode; loss = mean squared TD error.
    * ``"episode"``: ``batch_size`` class-balanced compositions, each contributing all
      transitions of its episode (``batch_size * n_steps`` per update); loss = squared TD errors
      *summed* over the episode's state-action pairs (the paper's Eq. 15), averaged over
      the episodes.

    ``"episode"`` is the faithful reading: Eq. 15 sums over the pairs of an episode, the
    offline data are compositions (one episode each), and the paper's batch of 250 is not
    a multiple of its 8 steps, so it cannot count transitions drawn as whole episodes. Both
    units have the same expected gradient up to the factor n_steps (t is uniform), which
    Adam divides out; they differ in the transitions seen per update and in their
    correlation.
    The default stays ``"transition"`` so that models saved before the setting existed load
    with the unit they were trained with; the ``paper`` protocol sets ``"episode"``.
    """

    hidden: tuple[int, ...] = (512, 512, 512, 512, 512)
    """Widths of the Q-network's hidden layers."""
    steps: int = 800_000
    """Parameter updates of the online network."""
    batch_size: int = 250
    """Transitions or episodes per update (see ``batch_unit``), class-balanced."""
    lr: float = 1e-5
    """Adam learning rate."""
    gamma: float = 0.999
    """Discount factor of the TD target."""
    target_sync: int = 10
    """Updates between copies of the online network into the target network."""
    beta: float = 5.0
    """Inverse temperature of the sampling policy softmax(beta * Q)."""
    layer_norm: bool = True
    """Layer normalisation after each hidden layer."""
    tabulated: bool = True
    """Sample from the exact policy table over all compositions (else step by step)."""
    batch_unit: str = "transition"
    """What batch_size counts: 'transition' (single steps) or 'episode' (all steps of
    each composition, squared errors summed per episode as in Eq. 15; the paper protocol)."""

    # Ranges of the other settings, checked by ValidatedConfig.validate.
    SETTINGS: ClassVar[dict[str, Setting]] = {
        "hidden": WIDTHS, "steps": POSITIVE_INT, "batch_size": BATCH_SIZE, "lr": POSITIVE,
        "gamma": PROBABILITY, "target_sync": POSITIVE_INT, "beta": NON_NEGATIVE,
        "layer_norm": FLAG, "tabulated": FLAG,
    }

    def validate(self) -> None:
        """The range checks of ValidatedConfig, then ``batch_unit`` (a choice, not a range)."""
        super().validate()
        if self.batch_unit not in BATCH_UNITS:
            raise ConfigError(
                f"invalid setting batch_unit={self.batch_unit!r}: must be one of "
                f"{', '.join(map(repr, BATCH_UNITS))}"
            )


# --------------------------------------------------------------------------- states, masks


def allowed_actions(space: CompositionSpace, features: np.ndarray,
                    t: np.ndarray | int) -> np.ndarray:
    """(n, n_actions) bool: the actions allowed after the first ``t`` positions are filled.

    ``features`` are unscaled integer (n, n_features) vectors of ``space``; only positions
    < t are read. At t = n_features (terminal) nothing is allowed.
    """
    f = np.asarray(features, dtype=np.int64)
    n = f.shape[0]
    t = np.broadcast_to(np.asarray(t, dtype=np.int64), (n,))
    rows = np.arange(n)
    tab = site_actions(space)
    n_union = len(space.elements)
    # Elements of the sites already complete; the extra column swallows incomplete sites.
    used = np.zeros((n, n_union + 1), dtype=bool)
    if space.distinct:  # the last site is never complete before the terminal state
        for s in range(space.n_sites - 1):
            done = t >= 2 * s + 2
            el = space.lookups[s][np.clip(f[:, 2 * s], 0, space.n_rows),
                                  np.clip(f[:, 2 * s + 1], 0, space.n_groups)]
            ok = done & (el >= 0)
            used[rows, np.where(ok, tab.union[s][np.maximum(el, 0)], n_union)] = True
    free = ~used[:, :n_union]
    out = np.zeros((n, n_actions(space)), dtype=bool)
    site = t // 2
    row_step = (t % 2 == 0) & (t < n_steps(space))
    for s in range(space.n_sites):
        sel = row_step & (site == s)
        if sel.any():
            # A row is allowed while it still holds a free element of the site (so the
            # site can be completed).
            free_s = free[sel][:, tab.union[s]].astype(np.int32)
            out[sel] = (free_s @ tab.row_members[s]) > 0
    grp_all = np.flatnonzero(t % 2 == 1)
    for s in range(space.n_sites):
        grp = grp_all[site[grp_all] == s]
        if len(grp):
            r = np.clip(f[grp, t[grp] - 1], 0, space.n_rows)
            el = tab.by_row[s][r]  # (m, A): element of (row, group a + 1), -1 if none
            ok = el >= 0
            out[grp] = ok & free[grp[:, None], tab.union[s][np.where(ok, el, 0)]]
    return out


def encode_states(space: CompositionSpace, features: np.ndarray,
                  t: np.ndarray | int) -> np.ndarray:
    """(n, 2 n_features) float32 network inputs: scaled values of the filled positions (0
    elsewhere) and the filled mask."""
    f = np.asarray(features, dtype=np.int64)
    t = np.broadcast_to(np.asarray(t, dtype=np.int64), (f.shape[0],))
    filled = (np.arange(n_steps(space)) < t[:, None]).astype(np.float32)
    return np.concatenate([space.scale(f) * filled, filled], axis=1)


def masked_softmax(q: np.ndarray, mask: np.ndarray, beta: float) -> np.ndarray:
    """softmax(beta * q) over the allowed actions (float64; rows without one stay 0)."""
    logits = np.where(mask, beta * np.asarray(q, dtype=np.float64), -np.inf)
    top = logits.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    p = np.exp(logits - top)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)


def _categorical(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One draw per row of the (n, m) probabilities with uniforms u (inverse CDF)."""
    cdf = np.cumsum(p, axis=1)
    a = (u[:, None] * cdf[:, -1:] >= cdf).sum(axis=1)
    # Rounding can push a past the last allowed action: step back to the last p > 0.
    last = p.shape[1] - 1 - np.argmax((p > 0)[:, ::-1], axis=1)
    return np.minimum(a, last)


@dataclass
class PolicyTable(CompositionTable):
    """The exact generative distribution of one agent: every composition with its
    probability under softmax(beta * Q) step by step (``sample``: N draws at once)."""

    beta: float
    level_sizes: list[int]  # distinct states met at every step


# --------------------------------------------------------------------------- the loss


@torch.no_grad()
def td_targets(
    online: Callable[[torch.Tensor], torch.Tensor],
    target: Callable[[torch.Tensor], torch.Tensor],
    s_next: torch.Tensor,
    allowed_next: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Double-DQN targets y = r + gamma * Q_target(s', argmax_{a' allowed} Q_online(s', a')).

    The online net picks the next action among the allowed ones, the target net evaluates
    it; a final transition (``done``) gets y = r, no bootstrap. Shapes: ``s_next``
    (K, M, S), ``allowed_next`` (K, M, A) bool, ``reward`` and ``done`` (K, M); the nets
    map (K, M, S) to (K, M, A) (S: the state width, A: the actions).
    """
    q_online = online(s_next).masked_fill(~allowed_next, -torch.inf)
    a_next = q_online.argmax(-1, keepdim=True)  # online net picks ...
    q_next = target(s_next).gather(-1, a_next)[..., 0]  # ... target evaluates
    return reward + gamma * torch.where(done, 0.0, q_next)


def td_loss(q_sa: torch.Tensor, y: torch.Tensor, per_unit: int) -> torch.Tensor:
    """Per-member loss (K,) of (K, M) Q-values and targets, M = units * per_unit.

    Squared errors are summed over each unit's ``per_unit`` consecutive transitions (the
    episode's steps, Eq. 15; 1 for a single transition) and averaged over the units.
    """
    sq = (q_sa - y) ** 2
    return sq.unflatten(-1, (-1, per_unit)).sum(-1).mean(-1)


# --------------------------------------------------------------------------- the agent


class DQNAgent(TorchEnsembleGenerator):
    """Offline double deep-Q agent for one target class; sampling via the policy table."""

    name = "rl"
    conditional = False
    # The sampling knob is the config's beta (a Boltzmann inverse temperature): with_knob
    # gives a copy with another beta, the same Q-network.
    knob = "beta"
    knob_default = 5.0
    knob_grid = (1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0)
    knob_allows_zero = True
    Config = DQNConfig
    PROTOCOLS = {
        # paper: a batch of 250 episodes, Eq. 15 (DQNConfig, docs/protocols.md).
        "paper": DQNConfig(batch_unit="episode"),
        # fast: see docs/protocols.md for the evidence behind these budgets.
        "fast": DQNConfig(hidden=(128, 128, 128, 128, 128), steps=10_000, batch_size=256, lr=5e-4),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._table: PolicyTable | None = None

    def build_networks(self, k: int) -> dict[str, nn.Module]:
        c, space = self.config, self.fitted_space
        # Only the online net is a model parameter; the target net lives in the training loop.
        return {"q": EnsembleMLP(k, 2 * n_steps(space), c.hidden, n_actions(space),
                                 layer_norm=c.layer_norm)}

    def train_ensemble(self, train: TrainingSet, target_class: int | None) -> None:
        c, dev, nets, space = self.config, self.device, self.nets, self.fitted_space
        self._table = None
        steps = n_steps(space)
        q_net = nets["q"]
        target_net = copy.deepcopy(q_net).requires_grad_(False)
        dtype = next(q_net.parameters()).dtype  # float32, or float64 if that is the default

        # Per-composition tables on the device: scaled and integer features, terminal
        # reward, and the allowed-action mask after t = 0..steps filled positions.
        feats = space.to_features(train.elements)
        x_all = torch.from_numpy(space.scale(feats)).to(dev, dtype)
        a_all = torch.from_numpy(feats - 1).to(dev)  # the action that sets each position
        r_all = torch.from_numpy(np.where(train.classes == target_class, 1.0, -1.0))
        r_all = r_all.to(dev, dtype)
        masks = np.stack([allowed_actions(space, feats, t) for t in range(steps + 1)], axis=1)
        mask_all = torch.from_numpy(masks).to(dev)  # (n, steps + 1, A)
        pos = torch.arange(steps, device=dev)

        rand = MemberRandom(self.seeds, dev)
        batches = BalancedBatches(train.balanced_weights(), rand, c.batch_size)
        opt = torch.optim.Adam(q_net.parameters(), lr=c.lr)
        episodes = c.batch_unit == "episode"
        per_unit = steps if episodes else 1
        # Episode unit: every step of the 1st composition, then of the 2nd, ... (episode-major,
        # as td_loss expects).
        all_steps = pos.repeat(c.batch_size).expand(self.k, -1)  # (K, B * steps)
        losses: list[list[float]] = []
        for step in progress_steps(c.steps, f"rl x{self.k}", self.progress):
            if step % c.target_sync == 0:
                sync(target_net, q_net)
            # Compositions drawn class-balanced, each member its own (K, B).
            idx = torch.from_numpy(batches.next()).to(dev)
            if episodes:  # every step of each composition: M = B * steps transitions
                idx, t = idx.repeat_interleave(steps, dim=1), all_steps
            else:  # one step t uniform per composition: M = B (same member stream)
                t_np = np.stack([g.integers(0, steps, size=c.batch_size) for g in rand.np])
                t = torch.from_numpy(t_np).to(dev)
            x = x_all[idx]  # (K, M, n_features)
            filled = (pos < t[..., None]).to(dtype)  # positions filled before the action
            filled_next = (pos <= t[..., None]).to(dtype)
            s = torch.cat([x * filled, filled], -1)
            s_next = torch.cat([x * filled_next, filled_next], -1)
            a = a_all[idx].gather(-1, t[..., None])  # (K, M, 1) the true value at position t
            done = t == steps - 1
            r = torch.where(done, r_all[idx], 0.0)
            allowed_next = mask_all[idx, t + 1]  # (K, M, A); all False when done
            y = td_targets(q_net, target_net, s_next, allowed_next, r, done, c.gamma)

            q_sa = q_net(s).gather(-1, a)[..., 0]
            loss_k = td_loss(q_sa, y, per_unit)  # (K,)
            ensemble_step(opt, loss_k, step, c.steps, losses)
        self.history["loss"] = losses

    # -- generation ---------------------------------------------------------------------
    @property
    def beta(self) -> float:
        """The inverse temperature of the sampling policy (``config.beta``)."""
        return float(self.config.beta)

    def set_knob(self, value: float) -> None:
        self.config = dataclasses.replace(self.config, beta=float(value))

    def _single_q(self) -> nn.Module:
        q = self._require_fitted()["q"]
        if q.k != 1:
            raise ValueError(
                f"this {self.name} model holds {q.k} members (seeds {self.seeds}); "
                "sample from one of them: model.member(i)"
            )
        return q

    @torch.no_grad()
    def q_values(self, features: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """(n, A) Q-values of the states (first ``t`` positions of ``features`` filled)."""
        q = self._single_q()
        dtype = next(q.parameters()).dtype
        space = self.fitted_space
        s = encode_states(space, features, t)
        out = np.empty((len(s), n_actions(space)), dtype=np.float32)
        chunk = 1 << 15  # keeps the 512-wide activations near 64 MB
        for start in range(0, len(s), chunk):
            x = torch.from_numpy(s[start : start + chunk]).to(self.device, dtype)
            out[start : start + len(x)] = q(x[None])[0].float().cpu().numpy()
        return out

    def policy_table(self) -> PolicyTable:
        """The exact distribution over the space (built once per beta, then cached)."""
        self._single_q()
        space = self.fitted_space
        beta = float(self.config.beta)
        if self._table is not None and self._table.beta == beta:
            return self._table
        steps = n_steps(space)
        feats = np.zeros((1, steps), dtype=np.int8)  # the empty state
        codes = np.zeros(1, dtype=np.int64)  # mixed-radix code of the complete sites so far
        path = np.ones(1)
        sizes = []
        # The states of each level and their Q-values do not depend on beta: evaluated
        # once per fit (a sweep of beta reuses them), the same arrays every time.
        q_levels = knob_free_outputs(self._single_q()).setdefault("q_levels", {})
        for t in range(steps):
            sizes.append(len(feats))
            mask = allowed_actions(space, feats, t)
            if t not in q_levels:
                q_levels[t] = self.q_values(feats, t)
            p = masked_softmax(q_levels[t], mask, beta)
            # Children in (parent, action) order; each carries its path probability.
            parent, action = np.nonzero(mask)
            path = path[parent] * p[parent, action]
            codes = codes[parent]
            if t % 2 == 1:  # a group completes a site: append its element to the code
                site = t // 2
                el = space.lookups[site][feats[parent, t - 1], action + 1]
                assert (el >= 0).all(), "the action mask let a missing element through"
                codes = codes * space.sizes[site] + el
            if t < steps - 1:  # the leaves need no features
                feats = feats[parent]
                feats[:, t] = action + 1
        cdf = np.cumsum(path)
        cdf /= cdf[-1]
        self._table = PolicyTable(codes.astype(space.code_dtype), path / path.sum(), cdf,
                                  beta=beta, level_sizes=sizes)
        return self._table

    def composition_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, probabilities) of every composition of the space under the policy."""
        tab = self.policy_table()
        return tab.codes, tab.probs

    def composition_distribution(self, target_class: int) -> np.ndarray:
        """The policy table over the grid (every proposal is valid): exact, for
        :mod:`elpagen.expected`."""
        self._check_target(target_class)
        codes, probs = self.composition_probabilities()
        out = np.zeros(self.fitted_space.n_grid, dtype=np.float64)
        out[codes] = probs
        return out

    @torch.no_grad()
    def _propose_stepwise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Act step by step: the network runs on the batch of states at every step."""
        space = self.fitted_space
        out = np.empty(n, dtype=np.int64)
        chunk = 1 << 18
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            feats = np.zeros((m, n_steps(space)), dtype=np.int64)
            for t in range(n_steps(space)):
                p = masked_softmax(self.q_values(feats, t), allowed_actions(space, feats, t),
                                   self.config.beta)
                feats[:, t] = _categorical(p, rng.random(m)) + 1
            el, valid = space.features_to_elements(feats)
            out[start : start + m] = np.where(valid, space.encode(np.maximum(el, 0)), -1)
        return out

    def propose(
        self,
        n: int,
        target_class: int,
        rng: np.random.Generator,
        *,
        tabulated: bool | None = None,
    ) -> np.ndarray:
        """n compositions drawn from softmax(beta * Q); never invalid thanks to the mask
        (-1 would mark an invalid one, as for every generator)."""
        self._check_target(target_class)
        self._single_q()
        use_table = self.config.tabulated if tabulated is None else tabulated
        if use_table:
            return self.policy_table().sample(n, rng)
        return self._propose_stepwise(n, rng)


@torch.no_grad()
def sync(target: nn.Module, online: nn.Module) -> None:
    """Copy the online parameters into the target network."""
    for pt, p in zip(target.parameters(), online.parameters(), strict=True):
        pt.copy_(p)
