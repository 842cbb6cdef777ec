"""The training protocols every model offers (no torch: the CLI parser reads them)."""

from __future__ import annotations

from enum import StrEnum


class Protocol(StrEnum):
    """The training protocols every model offers (docs/protocols.md)."""

    FAST = "fast"
    """CPU-friendly budgets, chosen with evidence in docs/protocols.md."""
    PAPER = "paper"
    """The published settings."""


PROTOCOLS: tuple[str, ...] = tuple(Protocol)
