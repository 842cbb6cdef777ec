"""Small helpers shared by the training loops: the progress hook and the ensemble step."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

#: Receives the progress of a training loop: (description, steps done, total steps).
Reporter = Callable[[str, int, int], None]

_reporter: Reporter | None = None
#: Seconds between two reports of one loop (its first and last step are always reported).
REPORT_INTERVAL = 1.0


@contextmanager
def reporting_to(reporter: Reporter | None) -> Iterator[None]:
    """Within the block, every training loop reports its steps to ``reporter`` (e.g. the
    queue of a parent process) instead of drawing a tqdm bar of its own."""
    global _reporter
    old, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = old


def progress_steps(n: int, desc: str, enabled: bool) -> Iterator[int]:
    """range(n), reported to the installed reporter (:func:`reporting_to`) if there is
    one, else with a progress bar (:mod:`elpagen.progress`) when ``enabled``."""
    if _reporter is not None:
        return _reported(n, desc, _reporter)
    from elpagen import progress

    return progress.steps(range(n), n, desc, "step", enabled, mininterval=1.0)


def _reported(n: int, desc: str, reporter: Reporter) -> Iterator[int]:
    reporter(desc, 0, n)
    last = time.monotonic()
    for step in range(n):
        yield step
        now = time.monotonic()
        if step == n - 1 or now - last >= REPORT_INTERVAL:
            reporter(desc, step + 1, n)
            last = now


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
