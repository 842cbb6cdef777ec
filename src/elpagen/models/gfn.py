"""GFlowNet over the tree of the sites in order (the elpasolite's A -> B -> C -> D), trained
by trajectory balance (not in the paper).

A composition is built by placing one element per site of the training set's space, in
order, never one already placed (where the space asks for distinct elements). Every state
has exactly one parent, so the state graph is a tree, the backward
policy is 1, and trajectory balance (Malkin et al. 2022) for a composition x reads

    loss = (log Z_c + sum_t log P_F(s_t+1 | s_t, c) - log R_c(x))^2

with one learned log Z per class. At its minimum P_F samples x with probability
R_c(x) / Z_c: in proportion to the reward, so every composition the reward rates gets its
share of the samples (coverage), not just the best one.

Forward policy: exactly the conditional of :mod:`elpagen.models.ar` (a context network over
class, site and the placed sites' features, an element network over (row, group), logit =
dot product + bias, used elements masked), so :class:`GFNModel` derives from
:class:`~elpagen.models.ar.ARModel` and inherits its sampling, its temperature knob and its
exact likelihood ``log_prob`` (of the sampler, not of the data). One fit serves every class:
each trajectory's class is drawn uniformly from 1..10.

Reward (:class:`EnergyReward`): an energy model fitted on the training set only, never the
reference energies. Member k fits the MLP energy regressor of
:mod:`elpagen.models.regressor` (the surrogate baseline's) with seed k on
``train.energies``; for its prediction mu(x),

    R_c(x) = max(P(E in class c | E ~ N(mu(x), sigma^2))^beta, floor)

(classes 1 and 10 are open-ended, as in :class:`~elpagen.data.EnergyClasses`). ``sigma``
is the regressor's error (held-out MAE 0.10 eV/atom, docs/design.md: a Gaussian with that
MAE has sigma = 0.10 * sqrt(pi/2) = 0.125), ``beta`` sharpens the reward towards the
compositions the regressor places deep inside the class, ``floor`` keeps log R finite.

Training: each update draws ``batch_size`` trajectories per member; a fraction ``replay``
are training compositions (class-balanced, with their own class: off-policy trajectories,
which trajectory balance accepts on a tree), the rest are rolled out from the current policy
mixed with ``epsilon`` of uniform choice over the unused elements (exploration). Their
log P_F is recomputed with gradients (teacher forcing, as ar's likelihood). K seeds train
as one batched ensemble; each member owns its reward model, random streams and log Z, so
member k equals a single fit with seed k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from elpagen.data import N_CLASSES, TrainingSet
from elpagen.models.ar import ARConfig, ARModel
from elpagen.models.ensemble import BalancedBatches, MemberRandom
from elpagen.models.regressor import EnergyRegressor, RegressorConfig
from elpagen.models.training import ensemble_step, progress_steps
from elpagen.settings import POSITIVE, POSITIVE_INT, PROBABILITY, Setting

#: A reward floor: (0, 1].
FLOOR = Setting("float", 0, 1, low_open=True)


@dataclass(frozen=True)
class GFNConfig(ARConfig):
    """Settings of the GFlowNet (``--set KEY=VALUE``). The forward policy's networks are
    ar's (``hidden``, ``element_hidden``, ``embed``, ``layer_norm``); the paper has no
    GFlowNet: both protocols are our own budgets."""

    steps: int = 1_500
    """Trajectory-balance updates (2,000 before issue 28's training curves,
    docs/protocols.md)."""
    batch_size: int = 256
    """Trajectories per update and member (on-policy and replayed together)."""
    lr: float = 2e-3
    """AdamW learning rate of the forward policy."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay of the forward policy."""
    dropout: float = 0.0
    """Dropout rate after each hidden layer of the context network h while training."""
    lr_log_z: float = 0.1
    """Learning rate of the ten log Z (one per class; no weight decay)."""
    epsilon: float = 0.05
    """Exploration: each on-policy step picks uniformly among the unused elements with this
    probability, from the policy otherwise."""
    replay: float = 0.25
    """Fraction of each batch that is training compositions (class-balanced) replayed as
    off-policy trajectories of their own class."""
    beta: float = 1.0
    """Reward exponent: R = P(class)^beta; above 1 concentrates on compositions predicted
    deep inside the class."""
    sigma: float = 0.125
    """Standard deviation (eV/atom) of the Gaussian around the regressor's prediction."""
    floor: float = 1e-6
    """Smallest reward (keeps log R finite for compositions far outside the class)."""
    reward_steps: int = 6_000
    """Adam updates of the reward's energy regressor (the surrogate MLP; 6,000 is its fast
    protocol)."""

    SETTINGS: ClassVar[dict[str, Setting]] = {
        **ARConfig.SETTINGS, "lr_log_z": POSITIVE, "epsilon": PROBABILITY,
        "replay": PROBABILITY, "beta": POSITIVE, "sigma": POSITIVE, "floor": FLOOR,
        "reward_steps": POSITIVE_INT,
    }


class EnergyReward:
    """R_c(x) of one member: a Gaussian around an energy regressor fitted on ``train``
    alone (see the module doc); never the reference energies."""

    def __init__(self, train: TrainingSet, seed: int, config: GFNConfig) -> None:
        regressor = EnergyRegressor(seed, RegressorConfig(steps=config.reward_steps))
        self.regressor = regressor.fit(train)
        edges = train.energy_classes.edges.astype(np.float64)
        edges[0], edges[-1] = -np.inf, np.inf  # classes 1 and 10 hold everything beyond
        self.edges = torch.from_numpy(edges)
        self.sigma, self.beta = config.sigma, config.beta
        self.log_floor = float(np.log(config.floor))

    def log_reward(self, codes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(n,) float64 log R_c(x) of compositions ``codes`` for ``classes`` (1..10)."""
        mu = torch.from_numpy(self.regressor.predict(codes).astype(np.float64))
        c = torch.from_numpy(np.asarray(classes, dtype=np.int64))
        hi = torch.special.ndtr((self.edges[c] - mu) / self.sigma)
        lo = torch.special.ndtr((self.edges[c - 1] - mu) / self.sigma)
        log_p = torch.log(torch.clamp(hi - lo, min=1e-300))
        return torch.clamp(self.beta * log_p, min=self.log_floor).numpy()


class LogZ(nn.Module):
    """(K, 10) learned log partition functions, one per member and class (start: 0)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(k, N_CLASSES))

    def reset_member(self, i: int, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.value[i].zero_()


def trajectory_balance(
    log_z: torch.Tensor, log_pf: torch.Tensor, log_reward: torch.Tensor
) -> torch.Tensor:
    """(K,) mean over the batch of (log Z_c + sum_t log P_F - log R)^2; inputs (K, B)."""
    return (log_z + log_pf - log_reward).square().mean(-1)


class GFNModel(ARModel):
    """GFlowNet with ar's factorised policy and a training-set-only energy reward; one fit
    serves every class; every proposal is valid."""

    name = "gfn"
    Config = GFNConfig
    PROTOCOLS = {
        # Our own larger budget (the paper has no GFlowNet): wider policy, more updates.
        "paper": GFNConfig(hidden=(256, 256), steps=6_000, batch_size=512),
        # fast (the defaults): chosen on the class-1 frontier (docs/protocols.md; its
        # fit time is in docs/benchmarks.md).
        "fast": GFNConfig(),
    }

    def build_networks(self, k: int) -> dict[str, nn.Module]:
        return {**super().build_networks(k), "log_z": LogZ(k)}

    def make_reward(self, train: TrainingSet, seed: int) -> EnergyReward:
        """The reward of the member with ``seed`` (anything with ``log_reward(codes,
        classes)``; a test overrides it with a reward of its own)."""
        return EnergyReward(train, seed, self.config)

    @torch.no_grad()
    def rollout(
        self, nets: nn.ModuleDict, classes: torch.Tensor, rand: MemberRandom, epsilon: float
    ) -> torch.Tensor:
        """(K, B, n_sites) trajectories (per-site element indices) for ``classes`` (K, B) in
        0..9: each member samples from its policy (at the current temperature) mixed with
        ``epsilon`` of uniform choice over the site's unused elements, with its own uniform
        stream (inverse CDF)."""
        k, b = classes.shape
        n_sites, n_union = self.fitted_space.n_sites, len(self.fitted_space.elements)
        el = torch.zeros((k, b, n_sites), dtype=torch.int64, device=self.device)
        for s in range(n_sites):
            # Sites >= s are still 0: they reach neither site s's context nor its mask.
            logits = self._site_logits(nets, el, classes, site=s).double()
            probs = torch.softmax(logits, -1)
            if epsilon > 0:
                free = torch.isfinite(logits).double()
                probs = (1 - epsilon) * probs + epsilon * free / free.sum(-1, keepdim=True)
            cdf = probs.cumsum(-1)
            u = rand.uniform(b, 1).double() * cdf[..., -1:]
            pick = torch.searchsorted(cdf, u, right=True)[..., 0].clamp_max(n_union - 1)
            el[:, :, s] = self._to_site(pick, s)
        return el

    def train_ensemble(self, train: TrainingSet, target_class: int | None) -> None:
        c, dev, nets = self.config, self.device, self.nets
        rewards = [self.make_reward(train, s) for s in self.seeds]
        el_all = torch.from_numpy(train.elements.astype(np.int64)).to(dev)
        y_all = torch.from_numpy(train.classes.astype(np.int64) - 1).to(dev)
        rand = MemberRandom(self.seeds, dev)
        n_replay = int(round(c.replay * c.batch_size))
        n_policy = c.batch_size - n_replay
        batches = (BalancedBatches(train.balanced_weights(), rand, n_replay) if n_replay
                   else None)
        log_z = nets["log_z"].value
        policy = [p for p in nets.parameters() if p is not log_z]
        opt = torch.optim.AdamW([
            {"params": policy, "lr": c.lr, "weight_decay": c.weight_decay},
            {"params": [log_z], "lr": c.lr_log_z, "weight_decay": 0.0},
        ])
        losses: list[list[float]] = []
        log_zs: list[list[float]] = []
        for step in progress_steps(c.steps, f"gfn x{self.k}", self.progress):
            parts_el, parts_y = [], []
            if n_policy:
                y = torch.from_numpy(rand.choice(N_CLASSES, n_policy)).to(dev)
                parts_el.append(self.rollout(nets, y, rand, c.epsilon))
                parts_y.append(y)
            if batches is not None:
                idx = torch.from_numpy(batches.next()).to(dev)
                parts_el.append(el_all[idx])
                parts_y.append(y_all[idx])
            el, y = torch.cat(parts_el, 1), torch.cat(parts_y, 1)
            codes = self.fitted_space.encode(el.cpu().numpy().reshape(-1, el.shape[-1]))
            codes = codes.reshape(self.k, -1)
            y_np = y.cpu().numpy() + 1
            log_r = torch.from_numpy(np.stack([
                r.log_reward(codes[i], y_np[i]) for i, r in enumerate(rewards)
            ])).to(dev, log_z.dtype)
            log_pf = self._log_likelihood(nets, el, y, rand)
            loss_k = trajectory_balance(log_z.gather(1, y), log_pf, log_r)
            ensemble_step(opt, loss_k, step, c.steps, losses)
            if step % 100 == 0 or step == c.steps - 1:
                log_zs.append(log_z.detach()[:, 0].cpu().tolist())
        self.history["loss"] = losses
        self.history["log_z_class1"] = log_zs
