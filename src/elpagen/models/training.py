"""Small helpers shared by the training loops."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def progress_steps(n: int, desc: str, enabled: bool) -> Iterator[int]:
    """range(n), with a tqdm bar when enabled."""
    if not enabled:
        return iter(range(n))
    from tqdm.auto import tqdm

    return iter(tqdm(range(n), desc=desc, unit="step", leave=False, mininterval=1.0))


def ensemble_step(
    opt: torch.optim.Optimizer, loss_k: torch.Tensor, step: int, steps: int,
    losses: list[list[float]],
) -> None:
    """One update of a batched ensemble from its (K,) member losses; every 100th update
    (and the last) appends the member losses to ``losses``.

    Summing member losses keeps every member's gradient exactly its own.
    """
    opt.zero_grad(set_to_none=True)
    loss_k.sum().backward()
    opt.step()
    if step % 100 == 0 or step == steps - 1:
        losses.append(loss_k.detach().cpu().tolist())
