"""Small helpers shared by the training loops."""

from __future__ import annotations

from collections.abc import Iterator


def progress_steps(n: int, desc: str, enabled: bool) -> Iterator[int]:
    """range(n), with a tqdm bar when enabled."""
    if not enabled:
        return iter(range(n))
    from tqdm.auto import tqdm

    return iter(tqdm(range(n), desc=desc, unit="step", leave=False, mininterval=1.0))
