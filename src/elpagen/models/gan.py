"""Conditional Wasserstein GAN with gradient penalty (docs/method.md section 6; Gulrajani et
al. 2017).

Generator and critic: one hidden layer of 512 with LeakyReLU(0.2), no normalisation (a
gradient-penalty critic must not use batch-dependent normalisation, and the paper uses no
layer norm either). The generator maps N(0, 1) noise (8-D by default) + the one-hot class
to the space's ``n_features`` values (8 for the elpasolite) through tanh; the critic maps a
scaled sample + the one-hot class to a scalar. The
sampling knob ``noise_scale`` s draws the noise from N(0, s^2) (s = 1: as trained).

Training per member, for every generator update:

* 5 critic updates, each on a fresh class-balanced real batch; the fake batch uses the
  same one-hot labels. Critic loss: ``D(fake) - D(real) + 10 * (||grad D(x_hat)|| - 1)^2``
  (means over the batch), where ``x_hat = eps * real + (1 - eps) * fake`` with one
  ``eps ~ U(0, 1)`` per sample and the gradient is taken w.r.t. the sample only (the
  one-hot is the same on both ends of the interpolation).
* 1 generator update: ``-D(G(z, y))`` on labels of another fresh balanced batch.

Critic and generator have their own Adam optimiser, betas (0.5, 0.9): the setting of the
public WGAN-GP code (gan_toy.py, gan_mnist.py of Gulrajani et al.); Algorithm 1 of the
WGAN-GP paper lists (0, 0.9), and docs/method.md section 6 names only the learning rate. Both
betas are settings (``beta1``, ``beta2``). The fast protocol raises lr and batch for a CPU budget
(evidence in docs/protocols.md).

Members never interact: the loss is the sum of member losses, and because the critic has
no batch-level operation, ``d sum(D(x_hat)) / d x_hat`` is exactly the per-member,
per-sample gradient (tests/test_gan.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from elpagen.data import N_CLASSES, TrainingSet
from elpagen.models.base import TorchEnsembleGenerator
from elpagen.models.ensemble import (
    BalancedBatches,
    EnsembleLinear,
    EnsembleMLP,
    MemberRandom,
)
from elpagen.models.sampling import decode_rows
from elpagen.models.training import progress_steps
from elpagen.settings import (
    ADAM_BETA,
    BATCH_SIZE,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    WIDTHS,
    ConfigError,
    Setting,
    ValidatedConfig,
)

#: Record the training curves every this many generator updates (and at the last one).
HISTORY_EVERY = 100


@dataclass(frozen=True)
class GANConfig(ValidatedConfig):
    """Settings of the conditional WGAN-GP (``--set KEY=VALUE``; the defaults are the paper's)."""

    hidden: tuple[int, ...] = (512,)
    """Widths of the hidden layers of the generator and of the critic."""
    noise: int = 8
    """Dimension of the generator's input noise."""
    gp_weight: float = 10.0
    """Weight of the gradient penalty (||grad D|| - 1)^2 in the critic loss."""
    critic_steps: int = 5
    """Critic updates per generator update."""
    steps: int = 200_000
    """Generator updates."""
    batch_size: int = 100
    """Compositions per batch, drawn with probability inverse to their class size."""
    lr: float = 1e-5
    """Adam learning rate of both networks."""
    beta1: float = 0.5
    """Adam beta1 of both networks."""
    beta2: float = 0.9
    """Adam beta2 of both networks."""

    SETTINGS: ClassVar[dict[str, Setting]] = {
        "hidden": WIDTHS, "noise": POSITIVE_INT, "gp_weight": NON_NEGATIVE,
        "critic_steps": POSITIVE_INT, "steps": POSITIVE_INT, "batch_size": BATCH_SIZE,
        "lr": POSITIVE, "beta1": ADAM_BETA, "beta2": ADAM_BETA,
    }


def critic_input(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, y], -1)


def gradient_penalty(
    critic: nn.Module,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    y: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """Per-member two-sided penalty E[(||grad_x D(x_hat, y)|| - 1)^2], shape (K,).

    ``x_real``, ``x_fake``: (K, B, n_features); ``y``: (K, B, 10); ``eps``: (K, B, 1). The graph is
    kept (``create_graph``) so the penalty can be back-propagated into the critic.
    """
    input_gradient = getattr(critic, "input_gradient", None)
    if input_gradient is not None:  # a PlainCritic: the same gradient, written out
        grad = input_gradient((eps * x_real + (1 - eps) * x_fake).detach(), y)
    else:
        x_hat = (eps * x_real + (1 - eps) * x_fake).detach().requires_grad_(True)
        d = critic(critic_input(x_hat, y))
        # D(x_hat)[k, b] depends on x_hat[k, b] only, so the gradient of the sum is the
        # per-sample gradient of each member: no cross-member or cross-sample terms.
        (grad,) = torch.autograd.grad(d.sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean(-1)


class PlainCritic(nn.Module):
    """An :class:`EnsembleMLP` critic of EnsembleLinear and LeakyReLU layers only, with
    ``input_gradient``: its gradient w.r.t. the sample written out layer by layer.

    ``input_gradient`` runs the very operations ``torch.autograd.grad(D(x_hat).sum(), x_hat,
    create_graph=True)`` records (the same bmm of the same shapes and strides, the same
    ``leaky_relu_backward``), so the penalty and its gradients are bitwise those of the
    generic path, and the trained weights too (benchmarks/profile_gan.py checks this). It
    leaves out what the generic path computes and throws away: the critic's output on
    x_hat, the gradient w.r.t. x_hat of the penalty itself, and the back-propagation of
    the exact zeros that ``leaky_relu_backward`` sends into the pre-activations (its
    derivative w.r.t. them is zero almost everywhere) through the forward pass's layers.
    Those zeros added nothing to any parameter's gradient, so the weights do not change;
    the first hidden bias receives no gradient from the penalty instead of a zero one.
    """

    def __init__(self, critic: EnsembleMLP) -> None:
        super().__init__()
        self.critic = critic
        layers = list(critic.net)
        hidden = layers[:-1]
        plain = (
            len(hidden) % 2 == 0
            and all(isinstance(m, EnsembleLinear) for m in hidden[0::2])
            and all(type(m) is nn.LeakyReLU for m in hidden[1::2])
            and isinstance(layers[-1], EnsembleLinear)
        )
        if not plain:  # e.g. layer norm or an output activation: autograd's double backward
            self.input_gradient = None  # type: ignore[assignment]
        self._hidden = [(hidden[i], hidden[i + 1].negative_slope) for i in range(0, len(hidden), 2)]
        self._last = layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def input_gradient(self, x_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """grad_x sum D(x, y) at x = x_hat, (K, B, n_features), with its graph kept (like
        ``create_graph=True``) so that the penalty back-propagates into the weights."""
        with torch.no_grad():  # the pre-activations only decide the LeakyReLU slopes
            h = critic_input(x_hat, y)
            pres = []
            for layer, slope in self._hidden:
                pres.append(layer(h))
                h = F.leaky_relu(pres[-1], slope)
        w_last = self._last.weight
        # d sum(D) / dD: the expanded 0-d one of sum's backward; then baddbmm's backward.
        g = torch.ones((), dtype=w_last.dtype, device=w_last.device).expand(*h.shape[:2], 1)
        g = g.bmm(w_last.transpose(1, 2))
        for (layer, slope), pre in zip(reversed(self._hidden), reversed(pres), strict=True):
            g = torch.ops.aten.leaky_relu_backward(g, pre, slope, False)
            g = g.bmm(layer.weight.transpose(1, 2))
        return g.narrow(-1, 0, x_hat.shape[-1])  # cat's backward: the sample's columns


def critic_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, gp: torch.Tensor, gp_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member critic loss and Wasserstein estimate, both (K,).

    The critic maximises ``w = mean D(real) - mean D(fake)``, so it minimises
    ``-w + gp_weight * gp``. ``d_real``, ``d_fake``: (K, B, 1) critic outputs; ``gp``: (K,)
    from :func:`gradient_penalty`.
    """
    w = d_real.mean((1, 2)) - d_fake.mean((1, 2))
    return -w + gp_weight * gp, w


class ConditionalWGAN(TorchEnsembleGenerator):
    """Conditional WGAN-GP; one fit serves every target class."""

    name = "gan"
    conditional = True
    knob = "noise_scale"
    knob_default = 1.0
    knob_grid = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    #: The study's class-5 frontier sweeps these 5 (each value costs 12.5 M draws): they keep
    #: the front's extremes and its hypervolume within 0.3 % (docs/study.md, "Fewer knob
    #: values at class 5"; ``elpagen study --frontier5-knobs full``: every value).
    knob_grid_reduced = (0.25, 0.5, 1.0, 1.25, 2.0)
    noise_scale: float = 1.0
    Config = GANConfig
    PROTOCOLS = {
        "paper": GANConfig(),
        # fast: the paper's networks with a CPU budget; lr 1e-5 barely moves in 3,000
        # updates, so the rate goes up. Evidence: docs/protocols.md.
        "fast": GANConfig(steps=3_000, batch_size=256, lr=1e-3),
    }

    def build_networks(self, k: int) -> dict[str, nn.Module]:
        c, width = self.config, self.fitted_space.n_features
        d_cond = N_CLASSES
        return {
            "generator": EnsembleMLP(k, c.noise + d_cond, c.hidden, width, out="tanh"),
            "critic": EnsembleMLP(k, width + d_cond, c.hidden, 1),
        }

    def train_ensemble(self, train: TrainingSet, target_class: int | None) -> None:
        c, dev, nets = self.config, self.device, self.nets
        if c.critic_steps < 1 or c.steps < 1 or c.batch_size < 1:
            raise ConfigError("gan: steps, critic_steps and batch_size must be at least 1")
        gen, critic = nets["generator"], nets["critic"]
        gp_critic = PlainCritic(critic)  # the penalty's gradient without autograd's detours
        # Data in the networks' dtype (float32, or float64 under torch.set_default_dtype).
        dt = next(gen.parameters()).dtype
        x_all = torch.from_numpy(train.scaled()).to(dev, dt)
        y_all = F.one_hot(torch.from_numpy(train.classes.astype(np.int64) - 1), N_CLASSES)
        y_all = y_all.to(dev, dt)
        rand = MemberRandom(self.seeds, dev)
        batches = BalancedBatches(train.balanced_weights(), rand, c.batch_size)
        betas = (c.beta1, c.beta2)
        opt_d = torch.optim.Adam(critic.parameters(), lr=c.lr, betas=betas, foreach=True)
        opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=betas, foreach=True)
        b = c.batch_size
        hist: dict[str, list[list[float]]] = {"critic_loss": [], "wasserstein": [], "gp": []}
        for step in progress_steps(c.steps, f"gan x{self.k}", self.progress):
            # -- critic updates ------------------------------------------------------
            for _ in range(c.critic_steps):
                idx = torch.from_numpy(batches.next()).to(dev)
                x, y = x_all[idx], y_all[idx]
                with torch.no_grad():
                    fake = gen(torch.cat([rand.normal(b, c.noise), y], -1))
                eps = rand.uniform(b, 1)
                # One critic pass over real and fake together (fewer, larger matmuls).
                d = critic(critic_input(torch.cat([x, fake], 1), torch.cat([y, y], 1)))
                gp_k = gradient_penalty(gp_critic, x, fake, y, eps)
                loss_d, w_k = critic_loss(d[:, :b], d[:, b:], gp_k, c.gp_weight)  # (K,) each
                opt_d.zero_grad(set_to_none=True)
                # Summing member losses keeps every member's gradient exactly its own.
                loss_d.sum().backward()
                opt_d.step()
            # -- generator update ----------------------------------------------------
            y = y_all[torch.from_numpy(batches.next()).to(dev)]
            fake = gen(torch.cat([rand.normal(b, c.noise), y], -1))
            critic.requires_grad_(False)  # no critic gradients needed for this step
            loss_g = -critic(critic_input(fake, y)).mean((1, 2))
            opt_g.zero_grad(set_to_none=True)
            loss_g.sum().backward()
            opt_g.step()
            critic.requires_grad_(True)
            if step % HISTORY_EVERY == 0 or step == c.steps - 1:
                hist["critic_loss"].append(loss_d.detach().cpu().tolist())
                hist["wasserstein"].append(w_k.detach().cpu().tolist())
                hist["gp"].append(gp_k.detach().cpu().tolist())
        self.history.update(hist)

    @torch.no_grad()
    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        c = self._check_target(target_class)
        g = self._require_single()["generator"]  # a K>1 ensemble raises: use .member(i)
        dt = next(g.parameters()).dtype
        gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**63 - 1)))
        out = np.empty(n, dtype=np.int64)
        chunk = 1 << 16  # noise rows per draw; the network runs on DECODE_ROWS at a time
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            z = torch.randn((1, m, self.config.noise), generator=gen, device=self.device, dtype=dt)
            if self.noise_scale != 1.0:  # s = 1: exactly the draws the model was trained on
                z = z * self.noise_scale
            y = torch.zeros((1, m, N_CLASSES), device=self.device, dtype=dt)
            y[..., c - 1] = 1.0
            # Bitwise the codes of the whole chunk through the network, in cache-sized blocks.
            out[start : start + m] = decode_rows(g, torch.cat([z, y], -1), self.fitted_space)
        return out
