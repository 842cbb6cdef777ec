"""The VAE's and GAN's samplers: a decoder network's outputs to composition codes, in
cache-sized blocks of rows.

Their ``propose`` draws the noise in chunks of 65,536 or 262,144 rows. Run through the
network whole, such a chunk makes every hidden activation a fresh 32-256 MiB buffer, and
the page faults and cache misses of those buffers cost about twice the arithmetic
(docs/benchmarks.md, "VAE and GAN sampling at 25 M"). :func:`decode_rows` runs the same
layers on blocks of :data:`DECODE_ROWS` rows and applies the activations and the layer
norm's affine step in place: every row goes through the very same kernels with the same
operands, so the codes are bitwise those of ``net(inputs)`` (tests/test_vae.py and
tests/test_gan.py check it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from elpagen.models.ensemble import EnsembleLayerNorm, EnsembleMLP
from elpagen.space import CompositionSpace

#: Rows per pass through the network on the CPU: 4,096 rows of 256-512 float32 features
#: are 4-8 MiB, which stay in cache; 1,024-16,384 measured, 4,096 the fastest for both.
DECODE_ROWS = 4096


def _forward_in_place(net: EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` with the element-wise steps done in place on the layers' fresh outputs."""
    fresh = False  # whether x is a tensor this function made (never the caller's input)
    for layer in net.net:
        if isinstance(layer, EnsembleLayerNorm):
            # EnsembleLayerNorm.forward is layer_norm * weight + bias: the same two
            # element-wise steps, written into the normalised tensor.
            x = F.layer_norm(x, x.shape[-1:]).mul_(layer.weight).add_(layer.bias)
        elif fresh and type(layer) is nn.LeakyReLU:
            x = F.leaky_relu_(x, layer.negative_slope)
        elif fresh and type(layer) is nn.Tanh:
            x = x.tanh_()
        else:
            x = layer(x)
        fresh = True
    return x


@torch.no_grad()
def decode_rows(net: EnsembleMLP, inputs: torch.Tensor, space: CompositionSpace,
                rows: int = DECODE_ROWS) -> np.ndarray:
    """(n,) codes of ``space`` (-1: invalid) of a single-member ``net``'s outputs on
    ``inputs`` (1, n, d), bitwise those of ``space.decode_proposals(net(inputs)[0].float())``;
    the CPU passes ``rows`` rows at a time (a GPU all at once)."""
    n = inputs.shape[1]
    step = rows if inputs.device.type == "cpu" else max(n, 1)
    out = np.empty(n, dtype=np.int64)
    for s in range(0, n, step):
        x = _forward_in_place(net, inputs[:, s : s + step])
        out[s : s + step] = space.decode_proposals(x[0].float().cpu().numpy())
    return out
