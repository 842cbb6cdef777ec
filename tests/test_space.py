import numpy as np
import pytest

from elpagen.space import CompositionSpace, Site, UnknownElementError
from elpagen.spaces import ELPASOLITE as space


def test_elements_rows_groups():
    assert space.sizes == (39,) * 4 and space.site_names == ("A", "B", "C", "D")
    elements = space.sites[0].elements
    assert len(set(elements)) == 39 and all(s.elements == elements for s in space.sites)
    idx = {e: i for i, e in enumerate(elements)}
    row, group = space.rows[0], space.groups[0]
    assert (row[idx["H"]], group[idx["H"]]) == (1, 1)
    assert (row[idx["He"]], group[idx["He"]]) == (1, 8)
    assert (row[idx["Al"]], group[idx["Al"]]) == (3, 3)
    assert (row[idx["Bi"]], group[idx["Bi"]]) == (6, 5)
    assert (row[idx["Xe"]], group[idx["Xe"]]) == (5, 8)
    # every (row, group) pair names at most one element
    assert len({(r, g) for r, g in zip(row, group, strict=True)}) == 39


def test_space_size():
    codes = space.all_codes()
    assert len(codes) == 1_974_024 == space.n_space
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
    [sw] = space.twins(codes)
    assert np.array_equal(space.twins(sw)[0], codes)
    assert not np.any(sw == codes)
    assert np.array_equal(space.canonical(codes), space.canonical(sw))


def test_symbols():
    assert space.symbols_to_indices(["H", "Bi", "Li", "He"]).tolist() == [0, 38, 2, 1]
    with pytest.raises(UnknownElementError, match="Fe"):
        space.symbols_to_indices(["H", "Fe", "Li", "He"])
    assert space.formula(space.encode(space.symbols_to_indices([["Al", "Na", "K", "F"]]))) == [
        "AlNaK2F6"
    ]


# --------------------------------------------------------------------------- another space

TOY = CompositionSpace(
    name="toy",
    sites=(Site("X", ("Li", "Na", "K", "Rb", "Cs")), Site("Y", ("Li", "Na", "K", "Rb", "Cs")),
           Site("Z", ("F", "Cl", "Br", "I", "O", "S", "Se"))),
    numbering="iupac",
)


def test_sample_files_of_another_space(tmp_path):
    from elpagen import io

    codes = TOY.all_codes()[::7]
    p = io.write_samples(tmp_path / "s.csv", codes, space=TOY)
    text = p.read_text()
    assert text.startswith("X,Y,Z\n")
    got, n_rows = io.read_samples(p, space=TOY)
    assert n_rows == len(codes) and np.array_equal(got, codes) and got.dtype == np.int32
    p.write_text("X,Y,Z\nLi,Na,F\nLi,Li,F\nLi,Fe,F\nLi,Na\n")
    scan = io.scan_samples(p, space=TOY)
    assert scan.invalid == {"repeated element": 1, "unknown element": 1, "fewer than 3 fields": 1}
    assert scan.codes.tolist() == [int(TOY.encode(np.array([[0, 1, 0]]))[0])]
    with pytest.raises(io.SamplesFileError, match="X,Y,Z"):
        io.read_samples(p, space=space)  # an elpasolite file needs the header A,B,C,D


def test_generators_check_proposals_against_their_space():
    from elpagen.data import EnergyClasses, TrainingSet
    from elpagen.generator import Generator, GeneratorError, check_proposals

    valid = TOY.all_codes()
    bad = int(np.flatnonzero(~TOY.valid_grid_mask())[0])  # Li on X and Y
    assert check_proposals(np.array([valid[0], -1]), 2, "g", TOY).tolist() == [valid[0], -1]
    with pytest.raises(GeneratorError, match="not compositions of the toy space"):
        check_proposals(np.array([bad]), 1, "g", TOY)
    with pytest.raises(GeneratorError, match=r"outside -1\.\.174") as e:
        check_proposals(np.array([TOY.n_grid]), 1, "g", TOY)
    assert "four" not in str(e.value) and "X, Y, Z" in str(e.value)

    class Uniform(Generator):  # a plug-in that does not set self.space itself
        name = "uniform"

        def fit(self, train, target_class=None):
            self.codes = train.codes
            return self

        def propose(self, n, target_class, rng):
            return rng.choice(self.codes, n)

    with pytest.raises(GeneratorError, match="no composition space"):
        Uniform().sample(5, 1)
    e = np.linspace(0, 1, len(valid))
    gen = Uniform().fit(TrainingSet(valid, e, EnergyClasses.from_energies(e), space=TOY))
    assert gen.space == TOY
    s = gen.sample(50, 1, seed=0)
    assert s.codes.dtype == TOY.code_dtype and np.isin(s.codes, valid).all()


@pytest.mark.parametrize("name", ["elpasolite", "perovskite", "toy"])
def test_decoding_proposals_is_the_general_decoding(name):
    """decode_proposals' lookup path (outputs in [-1, 1]) gives the codes, the -1s and the
    dtype of features_to_elements(unscale(x)), rounding ties included; NaN and values
    outside a tanh's range take the general path."""
    import warnings

    from elpagen import spaces

    sp = TOY if name == "toy" else spaces.get(name)
    rng = np.random.default_rng(5)

    def general(x):
        el, valid = sp.features_to_elements(sp.unscale(x))
        return np.where(valid, sp.encode(np.where(valid[:, None], el, 0)), -1)

    k = np.unique(np.concatenate([np.arange(2 * m + 1) / m - 1.0
                                  for m in (sp.n_rows, sp.n_groups)]))  # exact ties
    ties = np.concatenate([k, np.nextafter(k, 2), np.nextafter(k, -2)]).clip(-1, 1)
    xs = [np.tanh(rng.normal(0, s, (3000, sp.n_features))) for s in (0.3, 1.0, 3.0)]
    xs += [rng.choice(ties, (20_000, sp.n_features)).astype(np.float32)]
    outside = xs[-1] * 1.3
    outside[0, 0] = np.nan
    for x in [*xs, outside]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # casting the NaN: as before
            got, want = sp.decode_proposals(x), general(x)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert (sp.decode_proposals(xs[-1]) >= 0).any() and (sp.decode_proposals(xs[-1]) < 0).any()
