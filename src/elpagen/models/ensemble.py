"""Batched ensembles of small MLPs: K independent networks trained as one.

Every parameter carries a leading member axis K, and a layer is one batched matrix
product (``torch.baddbmm``) over the members. Members never share a parameter, a
batch or a random number: the loss is the *sum* of the member losses (so each
member's gradient is exactly its own), Adam is element-wise, and each member owns
its torch and numpy random generators. Member k of an ensemble is therefore the
same fit as an ensemble of one with member k's seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def resolve_device(device: str | None = "auto") -> torch.device:
    """'auto' picks CUDA when available, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class EnsembleLinear(nn.Module):
    """K independent linear layers: (K, B, d_in) -> (K, B, d_out)."""

    def __init__(self, k: int, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, d_in, d_out))
        self.bias = nn.Parameter(torch.empty(k, 1, d_out))

    def reset_member(self, i: int, gen: torch.Generator) -> None:
        # nn.Linear's default: U(-1/sqrt(d_in), 1/sqrt(d_in)) for weight and bias.
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            w = torch.rand(self.weight.shape[1:], generator=gen) * 2 - 1
            b = torch.rand(self.bias.shape[1:], generator=gen) * 2 - 1
            self.weight[i].copy_(w * bound)
            self.bias[i].copy_(b * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """Layer normalisation with a per-member affine transform."""

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(k, 1, d))
        self.bias = nn.Parameter(torch.zeros(k, 1, d))

    def reset_member(self, i: int, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.weight[i].fill_(1.0)
            self.bias[i].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class EnsembleMLP(nn.Module):
    """Fully connected net: [Linear -> (LayerNorm) -> LeakyReLU(0.2)] * hidden -> Linear -> out.

    ``out`` is 'tanh' or 'none'.
    """

    def __init__(
        self,
        k: int,
        d_in: int,
        hidden: Sequence[int],
        d_out: int,
        *,
        layer_norm: bool = False,
        out: str = "none",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for h in hidden:
            layers.append(EnsembleLinear(k, d, h))
            if layer_norm:
                layers.append(EnsembleLayerNorm(k, h))
            layers.append(nn.LeakyReLU(0.2))
            d = h
        layers.append(EnsembleLinear(k, d, d_out))
        if out == "tanh":
            layers.append(nn.Tanh())
        elif out != "none":
            raise ValueError(f"unknown output activation {out!r}")
        self.net = nn.Sequential(*layers)
        self.k = k

    def reset_member(self, i: int, gen: torch.Generator) -> None:
        for m in self.net:
            if hasattr(m, "reset_member"):
                m.reset_member(i, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_members(modules: Sequence[nn.Module], seeds: Sequence[int]) -> None:
    """Initialise member i of every module from a CPU generator seeded with seeds[i].

    The modules are initialised in the order given, so a model built from the same
    modules with one seed reproduces the member exactly.
    """
    for i, s in enumerate(seeds):
        gen = torch.Generator().manual_seed(int(s))
        for m in modules:
            m.reset_member(i, gen)


def select_member(state: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
    """The state dict of member i alone (leading axis kept, of size 1)."""
    return {name: t[i : i + 1].clone() for name, t in state.items()}


class MemberRandom:
    """Per-member random streams: numpy for batch indices, torch for noise."""

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.np = [np.random.default_rng([int(s), 1]) for s in seeds]
        self.torch = [
            torch.Generator(device=device).manual_seed(int(s) * 7919 + 17) for s in seeds
        ]
        self.device = device

    def choice(self, n: int, size: int, p: np.ndarray | None = None) -> np.ndarray:
        """(K, size) indices into n items, one independent draw per member."""
        return np.stack([g.choice(n, size=size, p=p) for g in self.np])

    def normal(self, *shape: int) -> torch.Tensor:
        """(K, *shape) standard normal noise, one stream per member."""
        return torch.stack(
            [torch.randn(shape, generator=g, device=self.device) for g in self.torch]
        )

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.stack(
            [torch.rand(shape, generator=g, device=self.device) for g in self.torch]
        )


class BalancedBatches:
    """Class-balanced batch indices for K members, pre-drawn in blocks for speed.

    Each member draws with probability inversely proportional to its composition's
    class frequency (docs/method.md section 3) from its own numpy stream.
    """

    def __init__(self, weights: np.ndarray, rand: MemberRandom, batch: int, block: int = 200):
        self.cdf = np.cumsum(weights)
        self.cdf /= self.cdf[-1]
        self.rand, self.batch, self.block = rand, batch, block
        self._buf: np.ndarray | None = None
        self._pos = 0

    def next(self) -> np.ndarray:
        """(K, batch) indices of the next step's batches."""
        if self._buf is None or self._pos >= self.block:
            u = np.stack([g.random((self.block, self.batch)) for g in self.rand.np], axis=1)
            self._buf = np.minimum(np.searchsorted(self.cdf, u, side="right"), len(self.cdf) - 1)
            self._pos = 0
        out = self._buf[self._pos]
        self._pos += 1
        return out
