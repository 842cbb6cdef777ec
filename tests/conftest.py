"""Shared fixtures. The DFT file comes from $ELPAGEN_DATA or ../shared/data (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "elpasolite_dft_faber2016.csv"


@pytest.fixture(scope="session")
def data_path() -> Path:
    # Absolute: some tests change the working directory.
    p = Path(os.environ.get("ELPAGEN_DATA", DEFAULT_DATA)).resolve()
    if not p.is_file():
        pytest.fail(f"DFT data file not found at {p}; set ELPAGEN_DATA")
    return p


@pytest.fixture(scope="session")
def train(data_path):
    from elpagen import data

    return data.load_training_set(data_path)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One oracle cache for the whole session (built once, ~1 minute on 2 cores).

    $ELPAGEN_TEST_CACHE reuses a cache directory across sessions (for development).
    """
    keep = os.environ.get("ELPAGEN_TEST_CACHE")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return Path(keep)
    return tmp_path_factory.mktemp("elpagen-cache")


@pytest.fixture(scope="session")
def reference(train, cache_dir):
    from elpagen import reference as reference_module

    ref, _ = reference_module.load_or_build(train, cache_dir=cache_dir)
    return ref


@pytest.fixture(autouse=True)
def _env(monkeypatch, data_path, cache_dir, tmp_path_factory):
    monkeypatch.setenv("ELPAGEN_DATA", str(data_path))
    monkeypatch.setenv("ELPAGEN_CACHE", str(cache_dir))
    # Fits in this process unless a test asks for worker processes (--jobs 2): spawning
    # two workers (each importing torch) costs ~4 s a command on 2 cores, most of a tiny
    # benchmark. The tests of the workers pass --jobs themselves.
    monkeypatch.setenv("ELPAGEN_JOBS", "1")
    # Never a developer's fetched DFT file, never a real download: an empty data directory
    # and a closed loopback port as the source (tests of `data fetch` serve their own).
    monkeypatch.setenv("ELPAGEN_DATA_DIR", str(tmp_path_factory.mktemp("elpagen-data")))
    monkeypatch.setenv("ELPAGEN_DATA_URL", "http://127.0.0.1:9/train_set.pkl")


@pytest.fixture
def float64():
    """Fits in float64. A GAN trained with Adam amplifies float32 round-off: a 1e-7 relative
    change of the initial weights moves them by up to 2e-3 after 20 updates (1e-12 in
    float64). A CPU's GEMM may sum in another order for K=3 than for K=1 (seen on a 16-core
    Xeon, not on others), so a bitwise float32 comparison would test the BLAS, not us."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(scope="module")
def pkl_path(data_path) -> Path:
    """The public train_set.pkl beside the DFT file (the fetch tests convert it)."""
    p = data_path.parent / "train_set.pkl"
    if not p.is_file():
        pytest.fail(f"train_set.pkl not found beside the DFT file, at {p}")
    return p


@pytest.fixture(scope="session")
def perovskite(tmp_path_factory):
    """(training set, reference energies) of the perovskite space, from the DFT table beside
    the repository ($ELPAGEN_PEROVSKITE_DATA or ../shared/data/); skipped where it is not."""
    from elpagen import truth

    path = os.environ.get("ELPAGEN_PEROVSKITE_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data" / "wolverton_oxides.csv")
    if not Path(path).is_file():
        pytest.skip(f"{path} is not here")
    t = truth.resolve("perovskite")
    train = truth.training_set(t, path)
    ref, _ = truth.reference_energies(t, train, path,
                                      cache_dir=tmp_path_factory.mktemp("perovskite"))
    return train, ref
