"""The settings of the autoregressive model (:mod:`elpagen.models.ar`, and the GFlowNet's,
which derive from them): one field per setting, a docstring under each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from elpagen.settings import (
    BATCH_SIZE,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    WIDTH,
    WIDTHS,
    Setting,
    ValidatedConfig,
)

#: A dropout rate: [0, 1).
DROPOUT = Setting("float", 0, 1, high_open=True)
#: A nucleus mass: (0, 1].
TOP_P = Setting("float", 0, 1, low_open=True)
#: ARConfig fields that act at sampling time only (:meth:`ARModel.with_sampling`).
SAMPLING_SETTINGS = frozenset({"top_p", "guidance"})


@dataclass(frozen=True)
class ARConfig(ValidatedConfig):
    """Settings of the autoregressive model (``--set KEY=VALUE``). The paper has no AR
    model: both protocols are our own budgets."""

    hidden: tuple[int, ...] = (128, 128)
    """Widths of the hidden layers of the context network h."""
    element_hidden: tuple[int, ...] = (32, 32)
    """Widths of the hidden layers of the element network g over (row, group)."""
    embed: int = 32
    """Dimension d of the context and element embeddings whose dot product is the logit."""
    steps: int = 1_500
    """Parameter updates, each on one class-balanced batch (2,000 before issue 28)."""
    batch_size: int = 256
    """Compositions per batch, drawn with probability inverse to their class size."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 0.05
    """AdamW decoupled weight decay (the regulariser)."""
    layer_norm: bool = True
    """Layer normalisation after each hidden layer of h and g."""
    dropout: float = 0.5
    """Dropout rate after each hidden layer of the context network h (training only; each
    member draws its masks from its own torch stream)."""
    top_p: float = 1.0
    """Sampling only (no effect on training). Nucleus sampling: at each site only the
    most probable elements whose probabilities (at T = 1) first reach top_p together stay
    candidates; the temperature then acts among them. 1: off."""
    guidance: float = 0.0
    """Sampling only. Class-contrast guidance w: each proposal x is kept with probability
    p(c | x)^w, the model's own posterior of the target class over the ten classes
    (p(c | x) proportional to p(x | c), uniform prior), so samples follow
    p(x | c) p(c | x)^w. Costs ten likelihood passes per proposal. 0: off."""

    SETTINGS: ClassVar[dict[str, Setting]] = {
        "hidden": WIDTHS, "element_hidden": WIDTHS, "embed": WIDTH,
        "steps": POSITIVE_INT, "batch_size": BATCH_SIZE, "lr": POSITIVE,
        "weight_decay": NON_NEGATIVE, "layer_norm": FLAG, "dropout": DROPOUT,
        "top_p": TOP_P, "guidance": NON_NEGATIVE,
    }
