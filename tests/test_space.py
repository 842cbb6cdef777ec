import numpy as np
import pytest

from elpagen import space


def test_elements_rows_groups():
    assert space.N_ELEMENTS == 39
    assert len(set(space.ELEMENTS)) == 39
    idx = space.SYMBOL_TO_INDEX
    assert (space.ROW[idx["H"]], space.GROUP[idx["H"]]) == (1, 1)
    assert (space.ROW[idx["He"]], space.GROUP[idx["He"]]) == (1, 8)
    assert (space.ROW[idx["Al"]], space.GROUP[idx["Al"]]) == (3, 3)
    assert (space.ROW[idx["Bi"]], space.GROUP[idx["Bi"]]) == (6, 5)
    assert (space.ROW[idx["Xe"]], space.GROUP[idx["Xe"]]) == (5, 8)
    # every (row, group) pair names at most one element
    assert len({(r, g) for r, g in zip(space.ROW, space.GROUP, strict=True)}) == 39


def test_space_size():
    codes = space.all_codes()
    assert len(codes) == 1_974_024 == space.N_SPACE
    assert space.valid_grid_mask().sum() == 1_974_024
    assert np.all(np.diff(codes) > 0)


def test_encode_decode_roundtrip():
    rng = np.random.default_rng(0)
    el = rng.integers(0, 39, size=(1000, 4))
    assert np.array_equal(space.decode(space.encode(el)), el)


def test_scale_in_range_and_roundtrip():
    codes = space.all_codes()[::997]
    x = space.codes_to_scaled(codes)
    assert x.min() > -1 and x.max() <= 1
    got, valid = space.decode_scaled(x)
    assert valid.all() and np.array_equal(got, codes)
    # small noise below half a step still decodes to the same composition
    noisy = x + np.float32(0.1) * np.array([2 / 6, 2 / 8] * 4, dtype=np.float32)
    assert np.array_equal(space.decode_scaled(noisy)[0], codes)


def test_invalid_decodes():
    f = np.array([
        [1, 3, 2, 1, 3, 1, 4, 1],  # row 1 group 3: no element
        [6, 7, 2, 1, 3, 1, 4, 1],  # row 6 group 7: no element
        [0, 1, 2, 1, 3, 1, 4, 1],  # row out of range
        [2, 1, 2, 1, 3, 1, 4, 1],  # Li twice
        [2, 1, 3, 1, 4, 1, 5, 1],  # valid: Li Na K Rb
    ])
    el, valid = space.features_to_elements(f)
    assert valid.tolist() == [False, False, False, False, True]
    assert space.indices_to_symbols(el[4]).tolist() == ["Li", "Na", "K", "Rb"]
    props = space.decode_proposals(space.scale(f))
    assert (props[:4] == -1).all() and props[4] >= 0


def test_swap_and_canonical():
    codes = space.all_codes()[::1001]
    sw = space.swap_ab(codes)
    assert np.array_equal(space.swap_ab(sw), codes)
    assert not np.any(sw == codes)
    assert np.array_equal(space.canonical(codes), space.canonical(sw))


def test_symbols():
    assert space.symbols_to_indices(["H", "Bi"]).tolist() == [0, 38]
    with pytest.raises(space.UnknownElementError, match="Fe"):
        space.symbols_to_indices(["Fe"])
    assert space.formula(space.encode(space.symbols_to_indices([["Al", "Na", "K", "F"]]))) == [
        "AlNaK2F6"
    ]
