"""Name -> class of every built-in generator."""

from __future__ import annotations

from elpagen.baselines import MarginalSampler, RandomScreening
from elpagen.models.dqn import DQNAgent
from elpagen.models.gan import ConditionalWGAN
from elpagen.models.vae import ConditionalVAE

MODEL_CLASSES = {"vae": ConditionalVAE, "gan": ConditionalWGAN, "rl": DQNAgent}
BASELINE_CLASSES = {"marginal": MarginalSampler, "random": RandomScreening}
GENERATOR_CLASSES = {**MODEL_CLASSES, **BASELINE_CLASSES}
