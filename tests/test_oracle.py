"""Tests of the full-space reference energies (small training subsets: fast)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from toy_space import TOY

from elpagen import data
from elpagen import reference as reference_module
from elpagen.space import CompositionSpace, Site
from elpagen.spaces import ELPASOLITE as space

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
    k = reference_module.kernel_matrix(a, b, 7.5, space)
    for i, ca in enumerate(a):
        for j, cb in enumerate(b):
            ea, eb = space.decode(np.array([ca, cb]))
            xa = np.ravel(np.column_stack([space.rows[0][ea], space.groups[0][ea]]))
            xb = np.ravel(np.column_stack([space.rows[0][eb], space.groups[0][eb]]))
            assert k[i, j] == pytest.approx(np.exp(-np.abs(xa - xb).sum() / 7.5), rel=1e-12)
    # ...and it factorises over the sites through the per-site element kernels.
    ta, tb = space.decode(a), space.decode(b)
    prod = np.prod([reference_module.element_kernel(7.5, space, s)[ta[:, s]][:, tb[:, s]]
                    for s in range(space.n_sites)], axis=0)
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
    assert grid.shape == (space.n_grid,)
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
    assert sizes.shape == (10,) and sizes.sum() == space.n_space
    codes = small.codes[:50]
    e = r.energy_of(codes)
    np.testing.assert_array_equal(r.class_of(codes), small.energy_classes.assign(e))
    assert np.isfinite(r.holdout_mae) and 0 < r.holdout_mae < 1.0
    with pytest.raises(ValueError):
        r.energy_of(np.array([space.n_grid]))


def test_folds_keep_twins_together(full: data.TrainingSet) -> None:
    codes = full.codes
    folds = reference_module.twin_folds(codes, 5, seed=1, space=space)
    pos = {int(c): i for i, c in enumerate(codes)}
    twins = space.twins(codes)[0]
    idx = np.array([pos.get(int(t), -1) for t in twins])
    assert (idx >= 0).all()  # the augmented set holds every twin
    assert np.array_equal(folds, folds[idx])
    assert np.bincount(folds).min() > 0.19 * len(codes)
    hold = reference_module.holdout_mask(codes, space=space)
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
    with pytest.raises(reference_module.ReferenceCacheError):
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
    with pytest.raises(reference_module.ReferenceCacheError, match="stale"):
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
    assert sizes.sum() == space.n_space
    assert (sizes > 0).all()


def test_twin_split_solves_the_full_system(small: data.TrainingSet) -> None:
    """The A/B swap split gives the same alpha as one Cholesky of the whole K."""
    sub = small.subset(300, seed=1)
    twin = reference_module.twin_index(sub.codes, space)
    assert twin is not None and np.array_equal(sub.codes[twin], space.twins(sub.codes)[0])
    y = sub.energies - sub.energies.mean()
    y[twin[:5]] += np.linspace(0.1, 0.5, 5)  # twins with different energies: both halves
    system = reference_module.KernelSystem(sub.codes, 8.0, space)
    assert system.symmetric
    alpha = system.solve(y, 1e-3)
    k = reference_module.kernel_matrix(sub.codes, sub.codes, 8.0, space)
    direct = np.linalg.solve(k + 1e-3 * np.eye(len(k)), y)
    np.testing.assert_allclose(alpha, direct, rtol=1e-8, atol=1e-8)
    # Without its twins the set is solved whole, with the same answer.
    one_side = sub.codes[sub.codes < space.twins(sub.codes)[0]]
    assert reference_module.twin_index(one_side, space) is None
    whole = reference_module.KernelSystem(one_side, 8.0, space)
    assert not whole.symmetric
    k1 = reference_module.kernel_matrix(one_side, one_side, 8.0, space)
    y1 = np.arange(len(one_side), dtype=np.float64) / len(one_side)
    np.testing.assert_allclose(
        whole.solve(y1, 1e-3), np.linalg.solve(k1 + 1e-3 * np.eye(len(k1)), y1), rtol=1e-8
    )


def test_too_small_lambda_is_a_clear_error(small: data.TrainingSet) -> None:
    sub = small.subset(200, seed=2)
    system = reference_module.KernelSystem(sub.codes, 8.0, space)
    with pytest.raises(reference_module.KRRSolveError, match="larger lambda"):
        system.solve(np.ones(system.n), -1.0)


# --------------------------------------------------------------------------- other spaces

#: Three sites of different sizes, no symmetry, every grid point a composition.
#: Three sites, the first two sharing a list and swappable (twins), elements distinct.
TOY_SWAP = CompositionSpace(
    name="toy-swap",
    sites=(Site("X", ("Li", "Na", "K", "Rb", "Cs")), Site("Y", ("Li", "Na", "K", "Rb", "Cs")),
           Site("Z", ("F", "Cl", "Br", "I"))),
    symmetries=((1, 0, 2),),
    numbering="iupac",
)


def toy_training_set(sp: CompositionSpace, n: int, seed: int = 0) -> data.TrainingSet:
    """n compositions of ``sp`` (closed under its symmetries) with smooth energies."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(sp.all_codes(), n, replace=False)
    codes = np.unique(np.concatenate([codes, *sp.twins(codes)]))
    f = sp.to_features(sp.decode(codes)).astype(np.float64)
    energies = np.sin(f @ np.linspace(0.3, 0.9, sp.n_features)) + 0.1 * f[:, 0]
    energies[sp.canonical(codes) != codes] = energies[np.searchsorted(
        codes, sp.canonical(codes))][sp.canonical(codes) != codes]  # twins share energies
    return data.TrainingSet(codes, energies, data.EnergyClasses.from_energies(energies),
                            sha256=f"toy-{sp.name}-{n}", space=sp)


@pytest.mark.parametrize("sp", [TOY, TOY_SWAP], ids=lambda s: s.name)
def test_toy_half_split_grid_equals_direct_kernel(sp: CompositionSpace) -> None:
    train = toy_training_set(sp, 40)
    model = reference_module.fit_krr(train, 4.0, 1e-3)
    assert model.space == sp and model.residual < 1e-8
    grid = model.predict_grid()
    assert grid.shape == (sp.n_grid,)
    valid = sp.valid_grid_mask()
    assert np.array_equal(np.isnan(grid), ~valid)
    codes = np.flatnonzero(valid)
    np.testing.assert_allclose(grid[codes], model.predict(codes), rtol=1e-10, atol=1e-12)
    # The kernel factorises over the sites, each with its own element kernel.
    a, b = train.codes[:6], train.codes[6:15]
    ta, tb = sp.decode(a), sp.decode(b)
    prod = np.prod([reference_module.element_kernel(4.0, sp, s)[ta[:, s]][:, tb[:, s]]
                    for s in range(sp.n_sites)], axis=0)
    np.testing.assert_allclose(reference_module.kernel_matrix(a, b, 4.0, sp), prod, rtol=1e-12)


def test_a_space_without_symmetries_gets_the_plain_solve() -> None:
    train = toy_training_set(TOY, 60)
    assert reference_module.twin_index(train.codes, TOY) is None
    system = reference_module.KernelSystem(train.codes, 4.0, TOY)
    assert not system.symmetric and len(system.blocks) == 1
    y = train.energies - train.energies.mean()
    k = reference_module.kernel_matrix(train.codes, train.codes, 4.0, TOY)
    np.testing.assert_allclose(system.solve(y, 1e-3), np.linalg.solve(k + 1e-3 * np.eye(len(k)), y),
                               rtol=1e-8, atol=1e-10)
    folds = reference_module.twin_folds(train.codes, 3, 0, space=TOY)
    assert sorted(np.bincount(folds).tolist()) == [20, 20, 20]  # every composition alone


def test_a_declared_swap_splits_the_solve_on_another_space() -> None:
    train = toy_training_set(TOY_SWAP, 30)
    twin = reference_module.twin_index(train.codes, TOY_SWAP)
    assert twin is not None
    system = reference_module.KernelSystem(train.codes, 4.0, TOY_SWAP)
    assert system.symmetric
    y = train.energies - train.energies.mean()
    y[twin[:3]] += 0.2
    k = reference_module.kernel_matrix(train.codes, train.codes, 4.0, TOY_SWAP)
    np.testing.assert_allclose(system.solve(y, 1e-3), np.linalg.solve(k + 1e-3 * np.eye(len(k)), y),
                               rtol=1e-8, atol=1e-10)
    folds = reference_module.twin_folds(train.codes, 3, 0, space=TOY_SWAP)
    assert np.array_equal(folds, folds[twin])


def test_toy_build_and_cache_record_the_space(tmp_path) -> None:
    train = toy_training_set(TOY, 100)
    r, loaded = reference_module.load_or_build(train, 4.0, 1e-3, cache_dir=tmp_path)
    assert not loaded and r.space == TOY and r.energies.shape == (TOY.n_grid,)
    assert r.class_sizes().sum() == TOY.n_space
    r2, loaded = reference_module.load_or_build(train, 4.0, 1e-3, cache_dir=tmp_path)
    assert loaded and r2.space == TOY
    np.testing.assert_array_equal(r2.energies, r.energies)
    path = reference_module.cache_path(train, 4.0, 1e-3, tmp_path)
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
    assert meta["space"] == TOY.fingerprint
    # A file without its space is stale for any space but the elpasolite.
    _rewrite_meta(path, lambda m: m.pop("space"))
    with pytest.raises(reference_module.ReferenceCacheError, match="stale"):
        reference_module.load(path, train, 4.0, 1e-3)
    # Another space's training set never shares a cache key with these codes.
    other = data.TrainingSet(train.codes, train.energies, train.energy_classes,
                             sha256=train.sha256, space=TOY_SWAP)
    assert reference_module.cache_path(other, 4.0, 1e-3, tmp_path) != path


def _rewrite_meta(path: Path, edit) -> None:
    with np.load(path) as z:
        energies, meta = z["energies"], json.loads(str(z["meta"]))
    edit(meta)
    np.savez(path, energies=energies, meta=np.array(json.dumps(meta)))


def test_an_elpasolite_cache_without_a_space_record_still_loads(ref, small, tmp_path) -> None:
    r, d = ref
    path = reference_module.cache_path(small, SIGMA, LAM, tmp_path)
    path.write_bytes(reference_module.cache_path(small, SIGMA, LAM, d).read_bytes())
    _rewrite_meta(path, lambda m: m.pop("space"))  # as written before spaces
    old = reference_module.load(path, small, SIGMA, LAM)
    assert old.space == space
    np.testing.assert_array_equal(old.energies, r.energies)
    assert reference_module.OracleCacheError is reference_module.ReferenceCacheError


def test_reference_from_a_table() -> None:
    rng = np.random.default_rng(5)
    codes = rng.choice(TOY.all_codes(), 50, replace=False)
    energies = rng.normal(size=50)
    ec = data.EnergyClasses.from_energies(energies)
    r = reference_module.ReferenceEnergies.from_table(TOY, codes, energies, ec, "sha")
    assert r.space == TOY and r.energies.dtype == np.float32 and r.classes.dtype == np.int8
    assert r.energies.shape == r.classes.shape == (TOY.n_grid,)
    have = np.zeros(TOY.n_grid, dtype=bool)
    have[codes] = True
    assert np.array_equal(r.valid, have) and np.array_equal(np.isnan(r.energies), ~have)
    np.testing.assert_array_equal(r.energy_of(codes), energies.astype(np.float32))
    assert (r.classes[~have] == 0).all() and (r.class_of(codes) >= 1).all()
    assert r.class_sizes().sum() == 50
    np.testing.assert_array_equal(r.class_sizes(), np.bincount(ec.assign(energies),
                                                               minlength=11)[1:])
    assert len(r.fingerprint()) == 64
    with pytest.raises(ValueError, match="twice"):
        reference_module.ReferenceEnergies.from_table(TOY, [1, 1], [0.0, 1.0], ec)
    with pytest.raises(ValueError, match="0..209"):
        reference_module.ReferenceEnergies.from_table(TOY, [210], [0.0], ec)
    with pytest.raises(ValueError, match="not a composition"):
        reference_module.ReferenceEnergies.from_table(TOY_SWAP, [0], [0.0], ec)  # Li, Li
    with pytest.raises(TypeError, match="space"):
        reference_module.ReferenceEnergies(r.energies, r.classes, 1.0, 1.0, 0.0, 0.0, "",
                                           ec)
