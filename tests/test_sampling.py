"""Block-wise decoding of the VAE and the GAN (elpagen.models.sampling)."""

import numpy as np
import pytest
import torch

from elpagen.models.gan import ConditionalWGAN
from elpagen.models.sampling import DECODE_ROWS, decode_rows
from elpagen.models.vae import ConditionalVAE
from elpagen.spaces import ELPASOLITE

#: model class, its tiny settings, the network that decodes, the config field of its input
#: noise width
MODELS = {
    "vae": (ConditionalVAE, dict(hidden=(32, 32), steps=30, batch_size=64, device="cpu"),
            "decoder", "latent"),
    "gan": (ConditionalWGAN, dict(hidden=(32,), steps=20, batch_size=32, device="cpu"),
            "generator", "noise"),
}


def _plain_propose(net, dim, scale, n, c, seed):
    """What propose computed before elpagen.models.sampling: the whole draw through the
    network at once (n below one noise chunk)."""
    gen = torch.Generator().manual_seed(int(np.random.default_rng(seed).integers(2**63 - 1)))
    z = torch.randn((1, n, dim), generator=gen) * scale
    y = torch.zeros((1, n, 10))
    y[..., c - 1] = 1.0
    with torch.no_grad():
        x = net(torch.cat([z, y], -1))[0].float().numpy()
    return ELPASOLITE.decode_proposals(x)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_block_wise_sampler_is_bitwise_the_plain_forward_pass(name, train):
    """propose runs the network in blocks of DECODE_ROWS rows with in-place steps; its
    codes are bitwise those of one plain forward pass, across block edges and a ragged
    last block (and decode_rows with tiny blocks agrees too)."""
    cls, tiny, net_name, dim_field = MODELS[name]
    m = cls(seed=0, **tiny).fit(train).with_knob(1.5)
    net, dim = m.nets[net_name], getattr(m.config, dim_field)
    n = 2 * DECODE_ROWS + 123
    got = m.propose(n, 3, np.random.default_rng(4))
    want = _plain_propose(net, dim, 1.5, n, 3, 4)
    assert np.array_equal(got, want) and (got >= 0).any()
    x = torch.randn(1, 1000, dim + 10)
    with torch.no_grad():
        x0 = x.clone()
        plain = m.space.decode_proposals(net(x)[0].numpy())
    assert np.array_equal(decode_rows(net, x, m.space, rows=7), plain)
    assert torch.equal(x, x0)  # the input is not overwritten
