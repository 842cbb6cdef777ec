"""Name -> class of every built-in generator, and loading a saved model directory.

It sits above :mod:`elpagen.models`, :mod:`elpagen.baselines` and :mod:`elpagen.surrogate`
(they never import it), so the model modules form no import circle.
"""

from __future__ import annotations

import os

from elpagen.baselines import MarginalSampler, RandomScreening
from elpagen.models.ar import ARModel
from elpagen.models.base import TorchEnsembleGenerator, load_directory
from elpagen.models.dqn import DQNAgent
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.gfn import GFNModel
from elpagen.models.vae import ConditionalVAE
from elpagen.surrogate import SurrogateScreening

MODEL_CLASSES: dict[str, type[TorchEnsembleGenerator]] = {
    "vae": ConditionalVAE, "gan": ConditionalWGAN, "rl": DQNAgent, "ar": ARModel,
    "gfn": GFNModel,
}
#: Generators without a torch ensemble, built as ``cls(seed=s)`` (the surrogate, a
#: screening baseline, runs its one ``fast`` protocol whatever protocol is asked for).
BASELINE_CLASSES = {
    "marginal": MarginalSampler, "random": RandomScreening, "surrogate": SurrogateScreening,
}
GENERATOR_CLASSES = {**MODEL_CLASSES, **BASELINE_CLASSES}


def load_model(directory: str | os.PathLike, device: str | None = "auto") -> TorchEnsembleGenerator:
    """Load a directory written by ``elpagen train`` (or ``model.save``); clear errors otherwise."""
    return load_directory(directory, MODEL_CLASSES, device)
