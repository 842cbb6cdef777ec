"""Tests of the full-space reference energies (small training subsets: fast)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from elpagen import data, space
from elpagen import reference as reference_module

DATA = Path(
    os.environ.get(
        data.ENV_VAR,
        Path(__file__).resolve().parents[2] / "shared" / "data" / "elpasolite_dft_faber2016.csv",
    )
)
SIGMA, LAM = 20.0, 1e-3


@pytest.fixture(scope="module")
def full() -> data.TrainingSet:
    if not DATA.is_file():
        pytest.skip(f"DFT data not found at {DATA}")
    return data.load_training_set(DATA)


@pytest.fixture(scope="module")
def small(full: data.TrainingSet) -> data.TrainingSet:
    return full.subset(1000, seed=3)


@pytest.fixture(scope="module")
def model(small: data.TrainingSet) -> reference_module.KRRModel:
    return reference_module.fit_krr(small, SIGMA, LAM)


@pytest.fixture(scope="module")
def grid(model: reference_module.KRRModel) -> np.ndarray:
    return model.predict_grid()


@pytest.fixture(scope="module")
def ref(small: data.TrainingSet, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("cache")
    r, loaded = reference_module.load_or_build(small, SIGMA, LAM, cache_dir=d)
    assert not loaded
    return r, d


def test_kernel_is_l1_laplacian_on_unscaled_features(small: data.TrainingSet) -> None:
    a, b = small.codes[:5], small.codes[5:12]
    k = reference_module.kernel_matrix(a, b, 7.5)
    for i, ca in enumerate(a):
        for j, cb in enumerate(b):
            ea, eb = space.decode(np.array([ca, cb]))
            xa = np.ravel(np.column_stack([space.ROW[ea], space.GROUP[ea]]))
            xb = np.ravel(np.column_stack([space.ROW[eb], space.GROUP[eb]]))
            assert k[i, j] == pytest.approx(np.exp(-np.abs(xa - xb).sum() / 7.5), rel=1e-12)
    # ...and it factorises over the sites through the 39x39 element kernel.
    e = reference_module.element_kernel(7.5)
    ta, tb = space.decode(a), space.decode(b)
    prod = np.prod([e[ta[:, s]][:, tb[:, s]] for s in range(4)], axis=0)
    np.testing.assert_allclose(k, prod, rtol=1e-12)


def test_fit_interpolates_with_small_residual(model: reference_module.KRRModel, small) -> None:
    assert model.residual < 1e-8
    # (K + lam I) alpha = y - mean  =>  K alpha + mean = y - lam * alpha.
    pred = model.predict(small.codes)
    np.testing.assert_allclose(pred, small.energies - LAM * model.alpha, atol=1e-8)


def test_separable_grid_equals_direct_kernel(model: reference_module.KRRModel,
                                             grid: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    codes = rng.choice(space.all_codes(), 3000, replace=False)
    direct = model.predict(codes)
    np.testing.assert_allclose(grid[codes], direct, rtol=1e-6, atol=1e-9)


def test_grid_order_and_invalid_points(grid: np.ndarray, ref) -> None:
    valid = space.valid_grid_mask()
    assert grid.shape == (space.N_GRID,)
    assert np.array_equal(np.isnan(grid), ~valid)
    r, _ = ref
    assert r.energies.dtype == np.float32 and r.classes.dtype == np.int8
    assert np.array_equal(np.isnan(r.energies), ~valid)
    assert np.all(r.classes[~valid] == 0) and np.all(r.classes[valid] >= 1)
    bad = space.encode(np.array([[3, 3, 5, 7], [1, 2, 1, 9]]))
    assert np.isnan(r.energy_of(bad)).all() and (r.class_of(bad) == 0).all()


def test_class_sizes_and_lookup(ref, small: data.TrainingSet) -> None:
    r, _ = ref
    sizes = r.class_sizes()
    assert sizes.shape == (10,) and sizes.sum() == space.N_SPACE
    codes = small.codes[:50]
    e = r.energy_of(codes)
    np.testing.assert_array_equal(r.class_of(codes), small.energy_classes.assign(e))
    assert np.isfinite(r.holdout_mae) and 0 < r.holdout_mae < 1.0
    with pytest.raises(ValueError):
        r.energy_of(np.array([space.N_GRID]))


def test_folds_keep_twins_together(full: data.TrainingSet) -> None:
    codes = full.codes
    folds = reference_module.twin_folds(codes, 5, seed=1)
    pos = {int(c): i for i, c in enumerate(codes)}
    twins = space.swap_ab(codes)
    idx = np.array([pos.get(int(t), -1) for t in twins])
    assert (idx >= 0).all()  # the augmented set holds every twin
    assert np.array_equal(folds, folds[idx])
    assert np.bincount(folds).min() > 0.19 * len(codes)
    hold = reference_module.holdout_mask(codes)
    assert abs(hold.mean() - 0.2) < 0.01 and np.array_equal(hold, hold[idx])


def test_cross_validate_small(small: data.TrainingSet) -> None:
    sub = small.subset(400, seed=0)
    chol = reference_module.cross_validate(sub, [10.0, 30.0], [1e-2, 1e-4], k=3, solver="cholesky")
    eig = reference_module.cross_validate(sub, [10.0, 30.0], [1e-2, 1e-4], k=3, solver="eigh")
    assert chol.mae.shape == (2, 2) and np.isfinite(chol.mae).all()
    np.testing.assert_allclose(chol.mae, eig.mae, rtol=1e-5)
    s, lam, m = chol.best
    assert s in (10.0, 30.0) and lam in (1e-2, 1e-4) and m == chol.mae.min()
    assert "sigma" in chol.to_markdown()


def test_cache_round_trip(ref, small: data.TrainingSet) -> None:
    r, d = ref
    r2, loaded = reference_module.load_or_build(small, SIGMA, LAM, cache_dir=d)
    assert loaded
    np.testing.assert_array_equal(r2.energies, r.energies)
    np.testing.assert_array_equal(r2.classes, r.classes)
    assert (r2.sigma, r2.lam, r2.holdout_mae) == (r.sigma, r.lam, r.holdout_mae)
    assert r2.data_sha256 == small.sha256 and r2.energy_classes == small.energy_classes
    assert not list(d.glob("*.tmp"))  # atomic write left no temp files


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_cache_is_rebuilt(ref, small: data.TrainingSet, tmp_path, damage) -> None:
    r, d = ref
    src = reference_module.cache_path(small, SIGMA, LAM, d)
    path = reference_module.cache_path(small, SIGMA, LAM, tmp_path)
    raw = bytearray(src.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:  # flip bytes inside the stored energies
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(reference_module.OracleCacheError):
        reference_module.load(path, small, SIGMA, LAM)
    with pytest.warns(reference_module.ReferenceCacheWarning):
        r2, loaded = reference_module.load_or_build(small, SIGMA, LAM, cache_dir=tmp_path)
    assert not loaded
    np.testing.assert_allclose(r2.energies, r.energies, rtol=1e-6, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, loaded = reference_module.load_or_build(small, SIGMA, LAM, cache_dir=tmp_path)
    assert loaded  # the rebuilt file is good


def test_stale_key_not_reused(ref, small: data.TrainingSet, tmp_path) -> None:
    _, d = ref
    other = reference_module.cache_path(small, SIGMA * 2, LAM, d)
    assert other != reference_module.cache_path(small, SIGMA, LAM, d)
    # A file of another sigma renamed to this key is detected by its metadata.
    src = reference_module.cache_path(small, SIGMA, LAM, d)
    fake = reference_module.cache_path(small, SIGMA * 2, LAM, tmp_path)
    fake.write_bytes(src.read_bytes())
    with pytest.raises(reference_module.OracleCacheError, match="stale"):
        reference_module.load(fake, small, SIGMA * 2, LAM)
    # Another training set (a different subset of the same file) has another key.
    assert reference_module.cache_path(small.subset(500, 0), SIGMA, LAM, d) != src


def test_cache_dir_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(reference_module.CACHE_ENV_VAR, str(tmp_path / "c"))
    assert reference_module.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(reference_module.CACHE_ENV_VAR)
    assert reference_module.cache_dir().name == "elpagen"


def test_production_reference(reference, train) -> None:
    """The full-size build every command uses (the session fixture: all 21,112 compositions,
    default sigma and lambda; in CI the very file `make run` built)."""
    assert reference.sigma == reference_module.DEFAULT_SIGMA
    assert reference.lam == reference_module.DEFAULT_LAMBDA
    assert reference.data_sha256 == data.EXPECTED_SHA256 == train.sha256
    assert reference.holdout_mae <= 0.08
    sizes = reference.class_sizes()
    assert sizes.sum() == 1_974_024 == space.N_SPACE
    assert (sizes > 0).all()


def test_twin_split_solves_the_full_system(small: data.TrainingSet) -> None:
    """The A/B swap split gives the same alpha as one Cholesky of the whole K."""
    sub = small.subset(300, seed=1)
    twin = reference_module.twin_index(sub.codes)
    assert twin is not None and np.array_equal(sub.codes[twin], space.swap_ab(sub.codes))
    y = sub.energies - sub.energies.mean()
    y[twin[:5]] += np.linspace(0.1, 0.5, 5)  # twins with different energies: both halves
    system = reference_module.KernelSystem(sub.codes, 8.0)
    assert system.symmetric
    alpha = system.solve(y, 1e-3)
    k = reference_module.kernel_matrix(sub.codes, sub.codes, 8.0)
    direct = np.linalg.solve(k + 1e-3 * np.eye(len(k)), y)
    np.testing.assert_allclose(alpha, direct, rtol=1e-8, atol=1e-8)
    # Without its twins the set is solved whole, with the same answer.
    one_side = sub.codes[sub.codes < space.swap_ab(sub.codes)]
    assert reference_module.twin_index(one_side) is None
    whole = reference_module.KernelSystem(one_side, 8.0)
    assert not whole.symmetric
    k1 = reference_module.kernel_matrix(one_side, one_side, 8.0)
    y1 = np.arange(len(one_side), dtype=np.float64) / len(one_side)
    np.testing.assert_allclose(
        whole.solve(y1, 1e-3), np.linalg.solve(k1 + 1e-3 * np.eye(len(k1)), y1), rtol=1e-8
    )


def test_too_small_lambda_is_a_clear_error(small: data.TrainingSet) -> None:
    sub = small.subset(200, seed=2)
    system = reference_module.KernelSystem(sub.codes, 8.0)
    with pytest.raises(reference_module.KRRSolveError, match="larger lambda"):
        system.solve(np.ones(system.n), -1.0)
