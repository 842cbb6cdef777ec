"""A seed's generations, compact and checksummed: what a submission carries so that the
leaderboard can score it again (:mod:`elpagen.leaderboard_verify`).

Every metric of :func:`elpagen.metrics.evaluate` depends on the samples only through how
often each composition was drawn (one ``bincount`` over the grid) and on the number of
proposals drawn, so a seed's samples are kept as their *distinct* composition codes
(ascending) with their counts. The encoding (``"delta-u32-shuffle-zlib-base64"``):

1. the codes' differences (the first code itself, then each code minus the one before:
   small positive numbers) as little-endian uint32, then the counts as little-endian uint32;
2. each of the two arrays byte-shuffled (all first bytes, then all second bytes, ...: the
   high bytes are nearly all zero and compress to almost nothing);
3. zlib (level 9) of the two, one after the other, and base64 of that.

``sha256`` is over the *decoded* arrays (the codes as little-endian int64, then the counts
as little-endian int64), so it does not depend on the zlib that wrote the text. The
elpasolite's 10,000 samples of a seed (about 4,000 distinct) take about 12 kB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from elpagen.errors import InputError

ENCODING = "delta-u32-shuffle-zlib-base64"
_U32 = np.dtype("<u4")
_MAX = 2**32 - 1


class GenerationsError(InputError):
    """Generations that cannot be decoded, or that do not match their checksum or counts."""


@dataclass(frozen=True)
class Decoded:
    """One seed's distinct codes (ascending, int64) and their counts (int64, each >= 1)."""

    codes: np.ndarray
    counts: np.ndarray

    def samples(self) -> np.ndarray:
        """The samples (each code repeated by its count): the metrics' input."""
        return np.repeat(self.codes, self.counts)


def distinct(codes: np.ndarray) -> Decoded:
    """The distinct codes of valid samples and how often each was drawn."""
    u, c = np.unique(np.asarray(codes, dtype=np.int64), return_counts=True)
    return Decoded(u, c.astype(np.int64))


def checksum(codes: np.ndarray, counts: np.ndarray) -> str:
    """sha256 of the codes then the counts, each as little-endian int64."""
    h = hashlib.sha256(np.ascontiguousarray(codes, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(counts, dtype="<i8").tobytes())
    return h.hexdigest()


def _shuffle(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_U32).view(np.uint8).reshape(-1, 4).T.tobytes()


def _unshuffle(b: bytes, n: int) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint8).reshape(4, n).T.copy().view(_U32).ravel()


def encode(seed: int, codes: np.ndarray, n_drawn: int) -> dict[str, Any]:
    """One seed's generations as JSON data: ``seed``, ``n_drawn`` (proposals, invalid ones
    included), ``n_valid``, ``n_distinct``, ``data`` (the encoded text) and ``sha256``."""
    d = distinct(codes)
    if d.codes.size and (d.codes[-1] > _MAX or d.counts.max() > _MAX):
        raise GenerationsError("composition codes and counts must fit in 32 bits")
    deltas = np.diff(d.codes, prepend=0)
    raw = _shuffle(deltas) + _shuffle(d.counts)
    text = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    return {"seed": int(seed), "n_drawn": int(n_drawn), "n_valid": int(d.counts.sum()),
            "n_distinct": int(d.codes.size), "data": text, "sha256": checksum(d.codes, d.counts)}


def decode(g: Mapping[str, Any] | Any, where: str = "generations") -> Decoded:
    """The codes and counts of one seed's generations (a mapping or the submission's
    record), checked: the text decodes to exactly ``n_distinct`` codes, strictly
    ascending, counts >= 1 summing to ``n_valid``, and the sha256 matches.
    :class:`GenerationsError` (naming ``where``) otherwise."""
    get = g.get if isinstance(g, Mapping) else (lambda k: getattr(g, k))
    n, n_valid = int(get("n_distinct")), int(get("n_valid"))
    size = 8 * n
    try:
        blob = base64.b64decode(str(get("data")).encode("ascii"), validate=True)
        z = zlib.decompressobj()
        raw = z.decompress(blob, size + 1)  # never more than announced: no zip bomb
        if len(raw) <= size and not z.eof:
            raw += z.flush(size + 1 - len(raw))
    except (binascii.Error, ValueError, zlib.error, UnicodeEncodeError):
        raise GenerationsError(f"{where}: data is not {ENCODING} text") from None
    if len(raw) != size or not z.eof or z.unused_data:
        raise GenerationsError(f"{where}: data holds another number of compositions than "
                               f"n_distinct = {n}")
    deltas = _unshuffle(raw[: 4 * n], n).astype(np.int64)
    counts = _unshuffle(raw[4 * n :], n).astype(np.int64)
    if n and (deltas[1:] <= 0).any():
        raise GenerationsError(f"{where}: codes are not distinct and ascending")
    if (counts <= 0).any():
        raise GenerationsError(f"{where}: a count is not positive")
    codes = np.cumsum(deltas)
    if int(counts.sum()) != n_valid:
        raise GenerationsError(f"{where}: counts sum to {int(counts.sum())}, not n_valid = "
                               f"{n_valid}")
    if checksum(codes, counts) != get("sha256"):
        raise GenerationsError(f"{where}: sha256 does not match the decoded compositions")
    return Decoded(codes, counts)
