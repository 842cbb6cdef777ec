"""Getting the DFT file from its public source (``elpagen data fetch``; docs/design.md,
"Data fetch").

The CSV that elpagen reads was converted from ``train_set.pkl`` of the GitHub repository
jeherr/Elpasolite-Formation-Energy-Predictor at a pinned commit (the Faber et al. 2016 set,
doi:10.1103/PhysRevLett.117.135502). This module downloads that file (or reads a local
copy), checks its sha256, converts it to the CSV *without executing pickle code*, checks
the CSV's sha256 and stores it atomically in the user data directory. Nothing is stored
when a check fails.

A pickle can run any callable while it loads. :class:`NumpyOnlyUnpickler` resolves only
the three names numpy's array reconstruction needs (``_reconstruct``, ``ndarray``,
``dtype``) and refuses every other one; the source's sha256 is checked before it is
unpickled at all, so only the published bytes ever reach the unpickler.

This module knows nothing of the CSV's loader: :mod:`elpagen.data` passes its header and
published checksum and wraps the errors it raises.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from elpagen.errors import InputError, printable
from elpagen.io import atomic_write
from elpagen.spaces.elpasolite import ELPASOLITE

#: The pinned public source (GPL-3.0 repository; data of Faber et al., PRL 117, 135502, 2016).
SOURCE_REPOSITORY = "jeherr/Elpasolite-Formation-Energy-Predictor"
SOURCE_COMMIT = "e96647546774e74440b339ff682897d8cf1245dc"
SOURCE_URL = (
    f"https://raw.githubusercontent.com/{SOURCE_REPOSITORY}/{SOURCE_COMMIT}/train_set.pkl"
)
SOURCE_SHA256 = "1281342b1c68984e3056433c42afa0f5f3b95db0da4a0ef089ca028abdac88ac"
SOURCE_SIZE = 254_417
DOI = "10.1103/PhysRevLett.117.135502"
#: The stored file's name in the data directory.
FILE_NAME = "elpasolite_dft_faber2016.csv"
#: Environment variables: where the fetched file lives, and a mirror of the source.
DATA_DIR_ENV = "ELPAGEN_DATA_DIR"
URL_ENV = "ELPAGEN_DATA_URL"
#: Seconds without an answer before a download gives up (urllib's socket timeout).
TIMEOUT_S = 60.0
#: Seconds a whole download may take: the socket timeout is per read, and a server that
#: sends a byte every few seconds would otherwise never time out (the files are < 1 MB).
DEADLINE_S = 180.0
#: A download larger than this is not the source (which is 254,417 bytes); stop reading.
MAX_BYTES = 16 * SOURCE_SIZE

#: The space of the published file: the pickle's rows are one atomic number per site.
SPACE = ELPASOLITE
#: Atomic number of each element of the space's sites (all sites share one list), in the
#: order of that list: index i of a site is the element with ``ATOMIC_NUMBERS[i]``.
ATOMIC_NUMBERS: tuple[int, ...] = (
    *range(1, 21), 31, 32, 33, 34, 35, 36, 37, 38, *range(49, 57), 81, 82, 83,
)
assert len({site.elements for site in SPACE.sites}) == 1
assert ATOMIC_NUMBERS == tuple(
    SPACE.atomic_numbers(np.tile(np.arange(SPACE.sizes[0])[:, None], SPACE.n_sites))[:, 0])
#: Atoms per formula unit (the pickle's energies are per formula unit).
ATOMS_PER_FORMULA = sum(site.multiplicity for site in SPACE.sites)

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's own array-reconstruction function
#: (module, name) the unpickler resolves; numpy 1 wrote ``numpy.core``, numpy 2 ``numpy._core``.
ALLOWED: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class FetchError(InputError):
    """The source could not be downloaded, read, checked or converted; nothing was stored."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise FetchError(
                f"refused to unpickle {printable(f'{module}.{name}')}: only numpy arrays are "
                "allowed (the file is not the published train_set.pkl); nothing was run or "
                "stored"
            ) from None


@dataclass(frozen=True)
class FetchResult:
    """Where the CSV went and what it took."""

    path: Path
    sha256: str
    rows: int
    source: str
    source_sha256: str
    seconds_download: float
    seconds_convert: float
    seconds: float


def data_dir() -> Path:
    """Where the fetched CSV is kept: ``$ELPAGEN_DATA_DIR`` or the user data directory."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("elpagen"))


def fetched_path() -> Path:
    """The fetched CSV's path (it may not exist yet)."""
    return data_dir() / FILE_NAME


def source_url() -> str:
    """The source's URL: ``$ELPAGEN_DATA_URL`` (a mirror) or the pinned GitHub URL."""
    return os.environ.get(URL_ENV) or SOURCE_URL


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class _Overdue(Exception):
    """The download's overall deadline passed."""


def _read_body(r, limit: int, end: float) -> bytes:
    """Up to ``limit`` bytes of the response ``r``, read in pieces until the body ends or
    the monotonic time ``end`` has passed (:class:`_Overdue`)."""
    read = getattr(r, "read1", r.read)  # read1: what has arrived, not a full buffer
    chunks, n = [], 0
    while n < limit:
        if time.monotonic() > end:
            raise _Overdue
        chunk = read(min(1 << 16, limit - n))
        if not chunk:
            break
        chunks.append(chunk)
        n += len(chunk)
    return b"".join(chunks)


def download(url: str, timeout: float = TIMEOUT_S, *, max_bytes: int = MAX_BYTES,
             what: str = "train_set.pkl", deadline: float | None = None) -> bytes:
    """The bytes at ``url`` (http, https or file), within ``deadline`` seconds in all
    (default :data:`DEADLINE_S`); one-line :class:`FetchError` otherwise. What the server
    says (its reason phrase, an error) is printed with control characters escaped."""
    import http.client  # the network stack is loaded only when something is downloaded
    import urllib.error
    import urllib.request

    if not url.strip():
        raise FetchError("the URL is empty; give the mirror's http(s) URL")
    deadline = DEADLINE_S if deadline is None else deadline
    end = time.monotonic() + deadline
    shown = printable(url)
    try:
        with urllib.request.urlopen(url, timeout=min(timeout, deadline)) as r:
            body = _read_body(r, max_bytes + 1, end)
            announced = r.headers.get("Content-Length", "") if r.headers else ""
    except _Overdue:
        raise FetchError(f"{shown}: the download took longer than {deadline:g} s (the server "
                         "sends too slowly); nothing was stored; retry, or use a mirror") from None
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:
        reason = str(e.reason)
    except http.client.IncompleteRead as e:
        raise FetchError(f"{shown}: download cut short ({len(e.partial):,} bytes arrived); "
                         "nothing was stored; retry") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # timeout, reset, bad URL
        reason = str(e) or type(e).__name__
    else:
        if len(body) > max_bytes:
            raise FetchError(f"{shown}: more than {max_bytes:,} bytes; not the published "
                             f"{what}")
        if announced.strip().isdigit() and len(body) < int(announced):
            raise FetchError(f"{shown}: download cut short ({len(body):,} of "
                             f"{int(announced):,} bytes); nothing was stored; retry")
        return body
    reason = printable(reason.splitlines()[0]) if reason.strip() else ""
    url = shown
    if what != "train_set.pkl":
        raise FetchError(f"cannot download {what} from {url} ({reason}); fetch it elsewhere "
                         f"and pass elpagen data fetch --from-file {what}, or --data PATH")
    raise FetchError(
        f"cannot download the DFT data from {url} ({reason}); "
        "use a mirror (elpagen data fetch --url MIRROR), a local copy "
        "(elpagen data fetch --from-file train_set.pkl), or your own CSV "
        f"(--data PATH or ELPAGEN_DATA)"
    )


def read_source(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers (n, n_sites) and energies in eV per formula unit (n,) of a train_set.pkl,
    unpickled with :class:`NumpyOnlyUnpickler` (a Python 2 pickle: latin-1 strings)."""
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except FetchError:
        raise
    except Exception as e:  # a truncated or foreign file: any unpickling failure
        raise FetchError(f"cannot read train_set.pkl ({type(e).__name__}: "
                         f"{printable(str(e))})") from None
    if not isinstance(obj, dict) or set(obj) != {"ANs", "FEs"}:
        raise FetchError("train_set.pkl does not hold the dict {'ANs', 'FEs'} it should")
    ans, fes = obj["ANs"], obj["FEs"]
    if not (isinstance(ans, np.ndarray) and ans.dtype.kind in "iu" and ans.ndim == 2
            and ans.shape[1] == SPACE.n_sites and isinstance(fes, np.ndarray)
            and fes.dtype.kind == "f" and fes.shape == (len(ans),)):
        raise FetchError(f"train_set.pkl: ANs must be integers (n, {SPACE.n_sites}) and FEs "
                         "floats (n,)")
    if not np.isfinite(fes).all():
        raise FetchError("train_set.pkl: FEs holds a value that is not finite")
    return ans, fes


def to_csv(ans: np.ndarray, fes: np.ndarray, header: Sequence[str]) -> bytes:
    """The published CSV's bytes: the header, then per row the site symbols and the
    energy divided by the atoms of the formula unit (10) with nine decimals, ``\n`` ends."""
    lut = np.full(max(ATOMIC_NUMBERS) + 1, -1, dtype=np.int64)
    lut[list(ATOMIC_NUMBERS)] = np.arange(len(ATOMIC_NUMBERS))
    z = ans.astype(np.int64)
    bad = (z < 0) | (z >= len(lut))
    idx = np.where(bad, -1, lut[np.clip(z, 0, len(lut) - 1)])
    if (idx < 0).any():
        row = int(np.argwhere(idx < 0)[0, 0])
        raise FetchError(f"train_set.pkl: row {row + 1} holds atomic numbers "
                         f"{z[row].tolist()} outside the {len(ATOMIC_NUMBERS)} elements of "
                         f"the {SPACE.name} space")
    sym = SPACE.sites[0].elements
    lines = [",".join(header)]
    lines += [",".join(sym[i] for i in row) + f",{fe / ATOMS_PER_FORMULA:.9f}"
              for row, fe in zip(idx.tolist(), fes.tolist(), strict=True)]
    return ("\n".join(lines) + "\n").encode("ascii")


def fetch(*, header: Sequence[str], csv_sha256: str, url: str | None = None,
          from_file: str | os.PathLike | None = None, dest: Path | None = None) -> FetchResult:
    """Download (or read ``from_file``) train_set.pkl, check it, convert it, check the CSV
    against ``csv_sha256`` and write it atomically to ``dest`` (default :func:`fetched_path`).

    Every check comes before the write, so a failure leaves nothing behind.
    """
    t0 = time.perf_counter()
    dest = Path(dest) if dest is not None else fetched_path()
    prepare(dest)
    if from_file is not None:
        blob = read_local(from_file, MAX_BYTES, "train_set.pkl", SOURCE_SIZE)
        source = str(Path(from_file).expanduser())
    else:
        source = url if url is not None else source_url()
        blob = download(source)
    t_download = time.perf_counter() - t0
    got = _sha256(blob)
    _check_complete(blob, got, SOURCE_SHA256, SOURCE_SIZE, source, from_file is not None)
    if got != SOURCE_SHA256:
        raise FetchError(
            f"{printable(source)}: sha256 {got[:12]}... ({len(blob):,} bytes) is not that of the "
            f"published train_set.pkl ({SOURCE_SHA256[:12]}..., {SOURCE_SIZE:,} bytes); "
            "nothing was stored"
        )
    t1 = time.perf_counter()
    ans, fes = read_source(blob)
    text = to_csv(ans, fes, header)
    t_convert = time.perf_counter() - t1
    digest = _sha256(text)
    if digest != csv_sha256:
        raise FetchError(
            f"the CSV converted from {printable(source)} has sha256 {digest[:12]}..., not that "
            f"of the published file ({csv_sha256[:12]}...); nothing was stored"
        )
    _store(dest, text)
    return FetchResult(
        path=dest, sha256=digest, rows=len(fes), source=source, source_sha256=got,
        seconds_download=t_download, seconds_convert=t_convert,
        seconds=time.perf_counter() - t0,
    )


def fetch_published(url: str, sha256: str, size: int, dest: Path, *,
                    from_file: str | os.PathLike | None = None) -> FetchResult:
    """Download a published data file (or copy ``from_file``), check its size and sha256,
    and write it atomically to ``dest``; nothing is stored when a check fails. (A plain
    file: the elpasolite's pickle conversion is :func:`fetch`.)"""
    t0 = time.perf_counter()
    prepare(dest)
    if from_file is not None:
        blob = read_local(from_file, 16 * size, dest.name, size)
        source = str(Path(from_file).expanduser())
    else:
        source = url
        blob = download(url, max_bytes=16 * size, what=dest.name)
    t_download = time.perf_counter() - t0
    got = _sha256(blob)
    _check_complete(blob, got, sha256, size, source, from_file is not None)
    if got != sha256:
        raise FetchError(f"{printable(source)}: sha256 {got[:12]}... ({len(blob):,} bytes) is "
                         f"not that of the published {dest.name} ({sha256[:12]}..., {size:,} "
                         "bytes); nothing was stored")
    _store(dest, blob)
    return FetchResult(path=dest, sha256=got, rows=len(blob.splitlines()) - 1, source=source,
                       source_sha256=got, seconds_download=t_download, seconds_convert=0.0,
                       seconds=time.perf_counter() - t0)


def read_local(path: str | os.PathLike, max_bytes: int, what: str, size: int) -> bytes:
    """The bytes of a local copy of ``what`` (the published file has ``size`` bytes): a
    regular file of at most ``max_bytes``, checked before it is opened (a FIFO would block,
    ``/dev/zero`` never ends, a huge file would fill the memory)."""
    src = Path(path).expanduser()
    try:
        st = src.stat()
    except FileNotFoundError:
        raise FetchError(f"{what} not found: {printable(str(src))}") from None
    except OSError as e:
        raise FetchError(f"cannot read {printable(str(src))} ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise FetchError(f"{printable(str(src))} is not a regular file; give the downloaded "
                         f"{what}")
    too_big = FetchError(f"{printable(str(src))}: {st.st_size:,} bytes or more; the published "
                         f"{what} has {size:,}; nothing was read")
    if st.st_size > max_bytes:
        raise too_big
    try:
        with open(src, "rb") as f:
            blob = f.read(max_bytes + 1)  # a file that grows meanwhile is still capped
    except OSError as e:
        raise FetchError(f"cannot read {printable(str(src))} ({e.strerror})") from None
    if len(blob) > max_bytes:
        raise too_big
    return blob


def _check_complete(blob: bytes, got: str, sha256: str, size: int, source: str,
                    local: bool) -> None:
    """A download shorter than the published file (and not it) was cut short: say so (a
    short local file is just another file: its checksum is named)."""
    if not local and len(blob) < size and got != sha256:
        raise FetchError(f"{printable(source)}: {len(blob):,} of {size:,} bytes: download cut "
                         "short; nothing was stored; retry")


def prepare(dest: Path) -> None:
    """Make the data directory of ``dest`` (before any download: a directory that cannot
    be made, as under a file or in /proc, is one line, not a wasted download)."""
    hint = f"set {DATA_DIR_ENV} to a directory of yours"
    if dest.is_dir():
        raise FetchError(f"{printable(str(dest))} is a directory, not the data file; move it "
                         f"away or {hint}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        # A file where a directory should be (ELPAGEN_DATA_DIR=FILE or FILE/x): name it.
        file = next((p for p in (dest.parent, *dest.parent.parents)
                     if p.exists() and not p.is_dir()), None)
        if file is not None:
            raise FetchError(f"{printable(str(file))} is a file, not a directory; {hint}"
                             ) from None
        raise FetchError(f"cannot make the data directory {printable(str(dest.parent))} "
                         f"({e.strerror or type(e).__name__}); {hint}") from None


def _store(dest: Path, blob: bytes) -> None:
    """Write ``blob`` to ``dest`` atomically; a refused write is one line."""
    try:
        atomic_write(dest, blob)
    except OSError as e:
        raise FetchError(f"cannot write {printable(str(dest))} ({e.strerror or type(e).__name__}"
                         f"); set {DATA_DIR_ENV} to a directory of yours; nothing was stored"
                         ) from None
