import numpy as np
import pytest

from elpagen import data


def test_published_facts(data_path):
    dft = data.load_dft(data_path)
    assert len(dft) == 10_590
    assert set(np.unique(dft.elements)) == set(range(39))
    assert dft.space.is_valid(dft.elements).all()
    assert dft.energies.min() == pytest.approx(-3.0670, abs=1e-4)
    assert dft.energies.max() == pytest.approx(5.0188, abs=1e-4)
    assert data.n_twin_pairs(dft) == 34
    train = data.training_set(dft)
    assert len(train) == 21_112
    counts = train.class_counts()
    assert counts[0] == 86 and counts[4] == 9_650 and counts.sum() == 21_112
    # every composition's A/B twin is in the augmented set
    assert np.isin(train.space.twins(train.codes)[0], train.codes).all()


def test_classes_edges():
    ec = data.EnergyClasses(0.0, 10.0)
    assert ec.assign(np.array([-5, 0, 0.99, 1.0, 5.5, 9.99, 10, 12])).tolist() == [
        1, 1, 1, 2, 6, 10, 10, 10
    ]
    assert ec.width == 1.0


def test_check_class():
    assert data.check_class(3) == 3
    for bad in (0, 11, -1, 2.5):
        with pytest.raises(ValueError, match="1 to 10"):
            data.check_class(bad)


def test_balanced_batches_are_balanced(train):
    rng = np.random.default_rng(0)
    idx = train.balanced_batches(200_000, rng)
    freq = np.bincount(train.classes[idx] - 1, minlength=10) / len(idx)
    assert np.allclose(freq, 0.1, atol=0.01)


def test_subset_keeps_twins(train):
    sub = train.subset(1000, seed=3)
    assert len(sub) == 1000
    assert np.isin(sub.space.twins(sub.codes)[0], sub.codes).all()
    assert sub.energy_classes == train.energy_classes
    other = train.subset(1000, seed=4)
    assert not np.array_equal(sub.codes, other.codes)
    with pytest.raises(ValueError):
        train.subset(10**6, seed=0)


def _write(tmp_path, text):
    p = tmp_path / "d.csv"
    p.write_text(text)
    return p


HEADER = "A,B,C,D,formation_energy_ev_per_atom\n"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("", "header"),
        ("x,y\n", "header"),
        (HEADER, "no data rows"),
        (HEADER + "Li,Na,K,Fe,0.1\n", r"line 2: unknown element symbol 'Fe'"),
        (HEADER + "Li,Na,K,F,0.1\nLi,Li,K,F,0.1\n", "line 3: .*distinct"),
        (HEADER + "Li,Na,K,F,abc\n", "line 2: energy 'abc'"),
        (HEADER + "Li,Na,K,F\n", "line 2: expected 5 fields"),
    ],
)
def test_malformed(tmp_path, body, match):
    with pytest.raises(data.DataError, match=match):
        data.load_dft(_write(tmp_path, body), verify=False)


def test_verify_checks_rows_and_checksum(tmp_path, data_path):
    lines = data_path.read_text().splitlines(keepends=True)
    short = _write(tmp_path, "".join(lines[:-1]))
    with pytest.raises(data.DataError, match="10589 data rows, expected 10590"):
        data.load_dft(short)
    changed = lines[:]
    changed[1] = changed[1].replace(",", ",", 1).rstrip("\n") + "1\n"
    p = tmp_path / "c.csv"
    p.write_text("".join(changed))
    with pytest.raises(data.DataError, match="sha256"):
        data.load_dft(p)
    assert len(data.load_dft(p, verify=False)) == 10_590


def test_missing_file(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match="not found"):
        data.load_dft(tmp_path / "nope.csv")
    monkeypatch.delenv("ELPAGEN_DATA")
    with pytest.raises(data.DataError, match="ELPAGEN_DATA"):
        data.load_dft()
