"""Tests of elpagen.metrics on small synthetic class maps with hand-computed answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from toy_space import TOY

from elpagen import metrics
from elpagen.spaces import ELPASOLITE as space

# Seven hand-picked compositions (element indices per site A, B, C, D).
# U is a valid composition that the sparse map leaves in class 0 (no class).
X1, X2, Y, Z, W, V, U = (
    int(space.encode(np.array([e]))[0])
    for e in (
        [0, 1, 2, 3],
        [1, 0, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
        [2, 3, 4, 5],
        [20, 21, 22, 23],
    )
)
SIZE_PER_A = 38 * 37 * 36  # valid compositions with a given element on site A


@pytest.fixture(scope="module")
def sparse_ref() -> np.ndarray:
    """Only six grid points carry a class: X1, X2 -> 1, Y -> 2, V -> 5, W -> 9, Z -> 10."""
    ref = np.zeros(space.n_grid, dtype=np.int8)
    ref[[X1, X2]] = 1
    ref[Y] = 2
    ref[V] = 5
    ref[W] = 9
    ref[Z] = 10
    return ref


@pytest.fixture(scope="module")
def a_ref() -> np.ndarray:
    """Full-grid map: class = (element on site A) % 10 + 1, 0 on repeated-element points.

    Class k holds the A elements {k-1, k+9, k+19, k+29} below 39: four for k <= 9, three
    (9, 19, 29) for k = 10; each A element carries 38*37*36 compositions.
    """
    el = space.decode(np.arange(space.n_grid))
    ref = (el[:, 0] % 10 + 1).astype(np.int8)
    ref[~space.is_valid(el)] = 0
    return ref


def codes_of(*c: int) -> np.ndarray:
    return np.array(c, dtype=np.int32)


# ----------------------------------------------------------------------- class sizes


def test_class_sizes(sparse_ref, a_ref):
    assert metrics.class_sizes(sparse_ref).tolist() == [2, 1, 0, 0, 1, 0, 0, 0, 1, 1]
    expected = [4 * SIZE_PER_A] * 9 + [3 * SIZE_PER_A]
    assert metrics.class_sizes(a_ref).tolist() == expected
    assert metrics.class_sizes(a_ref).sum() == space.n_space


# ----------------------------------------------------------------------- precision/coverage


def test_precision_counts_repeats_and_lower_edge(sparse_ref):
    s = codes_of(X1, X1, Y, V, U)
    assert metrics.precision(s, 1, sparse_ref) == 2 / 5
    # Class 0 does not exist (U must not count): only class 2 is a neighbour of class 1.
    assert metrics.precision_neighbor(s, 1, sparse_ref) == 1 / 5
    assert metrics.precision(s, 5, sparse_ref) == 1 / 5
    assert metrics.precision_neighbor(s, 5, sparse_ref) == 0.0


def test_precision_upper_edge(sparse_ref):
    s = codes_of(Z, W, W, X1)
    assert metrics.precision(s, 10, sparse_ref) == 1 / 4
    # Class 11 does not exist: only class 9 is a neighbour of class 10.
    assert metrics.precision_neighbor(s, 10, sparse_ref) == 2 / 4
    assert metrics.precision_neighbor(s, 9, sparse_ref) == 1 / 4  # Z (class 10); class 8 empty


def test_coverage_uses_unique_compositions(sparse_ref):
    s = codes_of(X1, X1, X1, Y, V, U)
    assert metrics.coverage(s, 1, sparse_ref) == 1 / 2  # X1 of {X1, X2}
    assert metrics.coverage(codes_of(X1, X2, X1), 1, sparse_ref) == 1.0
    assert metrics.coverage_neighbor(s, 1, sparse_ref) == 1 / 1  # Y of {Y}
    # Class 5's neighbours 4 and 6 are empty: the denominator is 0 -> 0.0.
    assert metrics.coverage_neighbor(s, 5, sparse_ref) == 0.0
    # Class 3 is empty in the full space.
    assert metrics.coverage(s, 3, sparse_ref) == 0.0


def test_coverage_neighbor_edges(sparse_ref):
    s = codes_of(W, W, Z)
    assert metrics.coverage(s, 10, sparse_ref) == 1.0
    assert metrics.coverage_neighbor(s, 10, sparse_ref) == 1.0  # W of class 9 (size 1)
    assert metrics.coverage_neighbor(s, 9, sparse_ref) == 1.0  # Z of 10; class 8 empty
    # Class 2's neighbours: 1 (size 2) and 3 (size 0); X2 is one of the two.
    assert metrics.coverage_neighbor(codes_of(X2, X2, Y), 2, sparse_ref) == 1 / 2


def test_coverage_on_full_grid_map(a_ref):
    # Every composition with A = element 0 is class 1 (a quarter of class 1).
    a0 = space.all_codes()
    a0 = a0[space.decode(a0)[:, 0] == 0]
    s = np.concatenate([a0, a0[:10]])  # repeats do not raise coverage
    assert metrics.coverage(s, 1, a_ref) == pytest.approx(0.25)
    assert metrics.precision(s, 1, a_ref) == 1.0
    assert metrics.coverage_neighbor(s, 1, a_ref) == 0.0


def test_invalid_inputs(sparse_ref):
    with pytest.raises(ValueError, match="drop invalid proposals"):
        metrics.precision(codes_of(-1, X1), 1, sparse_ref)
    with pytest.raises(ValueError, match="from 1 to 10"):
        metrics.precision(codes_of(X1), 11, sparse_ref)
    with pytest.raises(ValueError, match="shape"):
        metrics.evaluate(codes_of(X1), 1, sparse_ref[:100], None, space=space)
    with pytest.raises(ValueError, match="shape"):
        metrics.coverage(codes_of(X1), 1, sparse_ref.reshape(-1, 1))
    with pytest.raises(ValueError, match="must lie in"):  # a grid of 100 points: X1 is off it
        metrics.coverage(codes_of(X1), 1, sparse_ref[:100])
    assert math.isnan(metrics.precision(codes_of(), 1, sparse_ref))


# ----------------------------------------------------------------------- ideal coverage


def test_ideal_coverage():
    assert metrics.ideal_coverage(4, 2) == pytest.approx(1 - (3 / 4) ** 2)  # 7/16
    assert metrics.ideal_coverage(1, 5) == 1.0
    assert metrics.ideal_coverage(0, 100) == 0.0
    assert metrics.ideal_coverage(10, 0) == 0.0
    # Tiny 1/N_c: 1 - (1 - x)^N = N x - N(N-1)/2 x^2 + ..., to full relative precision.
    # (A plain power 1 - (1 - x)**N keeps only ~4 correct digits here.)
    n_c, n = 7 * 10**12 + 1, 1000
    x = 1 / n_c
    expected = n * x - n * (n - 1) / 2 * x**2 + n * (n - 1) * (n - 2) / 6 * x**3
    assert metrics.ideal_coverage(n_c, n) == pytest.approx(expected, rel=1e-12, abs=0)


def test_screening_cost():
    # One target among 3: its expected position in a random order is (1 + 2 + 3)/3 = 2.
    assert metrics.screening_cost(1, 1, 3) == 2.0
    # Finding the whole space means checking the whole space.
    assert metrics.screening_cost(7, 7, 7) == 7.0
    assert metrics.screening_cost(0, 5, 9) == 0.0
    with pytest.raises(ValueError):
        metrics.screening_cost(6, 5, 9)


# ----------------------------------------------------------------------- JS distance


def test_js_identical_and_disjoint():
    rng = np.random.default_rng(0)
    p = rng.random((4, 39))
    p /= p.sum(axis=1, keepdims=True)
    assert metrics.js_distance(p, p) == 0.0
    a = np.zeros((4, 39))
    a[:, 0] = 1
    b = np.zeros((4, 39))
    b[:, 1] = 1
    assert metrics.js_distance(a, b) == pytest.approx(1.0)


def test_js_hand_computed_value():
    # Site A: p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4); other sites identical.
    # JS_A = 1/2 log2(4/3) + 1/4 log2(2/3) + 1/4 log2(2) = 0.3112781...
    js_a = 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25
    assert js_a == pytest.approx(0.3112781244591328)
    p = np.zeros((4, 39))
    q = np.zeros((4, 39))
    p[:, 0] = 1.0
    q[:, 0] = 1.0
    q[0, :2] = 0.5
    assert metrics.js_distance(p, q) == pytest.approx(math.sqrt(js_a / 4))
    assert metrics.js_distance(q, p) == pytest.approx(math.sqrt(js_a / 4))


def test_js_of_empty_set_is_nan():
    p = metrics.site_distributions(codes_of(), space)
    assert np.isnan(p).all()
    assert math.isnan(metrics.js_distance(p, p))


def test_site_distributions():
    s = space.encode(np.array([[0, 1, 2, 3], [0, 4, 5, 6], [7, 1, 2, 3], [0, 1, 2, 3]]))
    p = metrics.site_distributions(s, space)
    assert p.shape == (4, 39)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] == 3 / 4 and p[0, 7] == 1 / 4
    assert p[1, 1] == 3 / 4 and p[1, 4] == 1 / 4
    assert p[3, 3] == 3 / 4 and p[3, 6] == 1 / 4


def test_class_site_distributions(a_ref):
    q = metrics.class_site_distributions(a_ref, 1, space)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    # Site A of class 1 is uniform over elements 0, 10, 20, 30.
    expected_a = np.zeros(39)
    expected_a[[0, 10, 20, 30]] = 0.25
    np.testing.assert_allclose(q[0], expected_a)
    # Site B: element b appears 37*36 times per A element other than b.
    # b in class 1's A set: 3 of the 4 A elements; otherwise all 4.
    in_a = np.isin(np.arange(39), [0, 10, 20, 30])
    expected_b = np.where(in_a, 3, 4) * 37 * 36 / (4 * SIZE_PER_A)
    np.testing.assert_allclose(q[1], expected_b)
    # Class 10: A elements 9, 19, 29.
    q10 = metrics.class_site_distributions(a_ref, 10, space)
    np.testing.assert_allclose(q10[0, [9, 19, 29]], 1 / 3)


def test_js_distance_to_class(a_ref):
    members = space.all_codes()
    members = members[a_ref[members] == 3]
    assert metrics.js_distance_to_class(members, 3, a_ref, space) == 0.0
    # Site A disjoint (JS 1) -> distance at least sqrt(1/4).
    assert metrics.js_distance_to_class(members, 4, a_ref, space) >= 0.5


def test_reference_js_table(a_ref):
    all_codes = space.all_codes()
    train = all_codes[::7]  # every class present, distributions close to the full space
    cls = a_ref[train]
    table = metrics.reference_js_table(train, cls, a_ref, space)
    assert table.shape == (10, 10)
    diag = np.diag(table)
    assert (diag < 0.05).all()
    off = table[~np.eye(10, dtype=bool)]
    # Different classes have disjoint site-A elements: JS_A = 1, so d >= sqrt(1/4).
    assert (off >= 0.5 - 1e-9).all()
    # Exact on the full class membership.
    full = metrics.reference_js_table(all_codes, a_ref[all_codes], a_ref, space)
    np.testing.assert_allclose(np.diag(full), 0.0, atol=1e-7)
    # A training class without members gives a NaN row.
    keep = cls != 7
    t2 = metrics.reference_js_table(train[keep], cls[keep], a_ref, space)
    assert np.isnan(t2[6]).all()
    assert not np.isnan(np.delete(t2, 6, axis=0)).any()


def test_training_js_objective(a_ref):
    train = space.all_codes()[::11]
    cls = a_ref[train]
    assert metrics.training_js_objective(train[cls == 1], train, cls, c=1, space=space) == 0.0
    assert metrics.training_js_objective(train[cls == 2], train, cls, c=1, space=space) >= 0.5


# ----------------------------------------------------------------------- discovery


def _discovery_case():
    # Training set {X2, Y}. Sequence: V novel, X2 rediscovery, V repeat, W novel,
    # X2 repeat (a training member seen before is a repetition), Y rediscovery, Z novel.
    seq = codes_of(V, X2, V, W, X2, Y, Z)
    train = codes_of(X2, Y, X1)
    return seq, train


def test_n_novel_unique(sparse_ref):
    seq, train = _discovery_case()
    assert metrics.n_novel_unique(seq, train, space.n_grid) == 3  # V, W, Z


def test_discovery_counts(sparse_ref):
    seq, train = _discovery_case()
    d = metrics.discovery_counts(seq, sparse_ref, train)
    assert d == {
        "n_samples": 7,
        "n_unique": 5,
        "n_novel": 3,
        "n_rediscovered": 2,
        "n_repeated": 2,
        "novel_by_class": [0, 0, 0, 0, 1, 0, 0, 0, 1, 1],  # V:5, W:9, Z:10
    }
    json.dumps(d)


def test_discovery_curve_hand_case(sparse_ref):
    seq, train = _discovery_case()
    cur = metrics.discovery_curve(seq, sparse_ref, train, points=range(8))
    assert cur["n_samples"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert cur["novel_total"].tolist() == [0, 1, 1, 1, 2, 2, 2, 3]
    assert cur["rediscovered"].tolist() == [0, 0, 1, 1, 1, 1, 2, 2]
    assert cur["repeated"].tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert cur["novel"].shape == (8, 10)
    assert cur["novel"][:, 4].tolist() == [0, 1, 1, 1, 1, 1, 1, 1]  # V, class 5
    assert cur["novel"][:, 8].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # W, class 9
    assert cur["novel"][:, 9].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]  # Z, class 10
    np.testing.assert_array_equal(cur["novel"].sum(axis=1), cur["novel_total"])


def test_discovery_curve_default_points_end_at_counts(a_ref):
    rng = np.random.default_rng(1)
    pool = space.all_codes()[rng.choice(space.n_space, 3000, replace=False)]
    seq = pool[rng.integers(0, len(pool), 20_000)]  # many repeats
    train = pool[:500]
    cur = metrics.discovery_curve(seq, a_ref, train)
    pts = cur["n_samples"]
    assert pts[0] == 1 and pts[-1] == len(seq)
    assert 150 <= len(pts) <= 201 and (np.diff(pts) > 0).all()
    d = metrics.discovery_counts(seq, a_ref, train)
    assert cur["novel_total"][-1] == d["n_novel"]
    assert cur["rediscovered"][-1] == d["n_rediscovered"]
    assert cur["repeated"][-1] == d["n_repeated"]
    assert cur["novel"][-1].tolist() == d["novel_by_class"]
    # Curves are cumulative: never decreasing; components add up to the sample count.
    for key in ("novel_total", "rediscovered", "repeated"):
        assert (np.diff(cur[key]) >= 0).all()
    np.testing.assert_array_equal(cur["novel_total"] + cur["rediscovered"] + cur["repeated"], pts)
    # Brute-force check at one intermediate point.
    k = int(pts[len(pts) // 2])
    uniq = np.unique(seq[:k])
    i = int(np.searchsorted(pts, k))
    assert cur["novel_total"][i] == np.count_nonzero(~np.isin(uniq, train))
    assert cur["repeated"][i] == k - len(uniq)


# ----------------------------------------------------------------------- evaluate/aggregate

EVAL_KEYS = {
    "precision",
    "precision_neighbor",
    "coverage",
    "coverage_neighbor",
    "js_distance",
    "js_distance_unique",
    "n_samples",
    "n_valid",
    "n_unique",
    "n_novel",
    "n_rediscovered",
    "n_repeated",
    "ideal_coverage",
}


def test_evaluate_sparse(sparse_ref):
    seq, train = _discovery_case()  # V, X2, V, W, X2, Y, Z
    r = metrics.evaluate(seq, 1, sparse_ref, train, n_drawn=10, space=space)
    assert EVAL_KEYS <= set(r)
    json.dumps(r, allow_nan=False)
    assert all(type(v) in (int, float) for v in r.values())
    assert r["precision"] == 2 / 7  # X2 twice
    assert r["precision_neighbor"] == 1 / 7  # Y
    assert r["coverage"] == 1 / 2
    assert r["coverage_neighbor"] == 1.0
    assert r["n_samples"] == 10 and r["n_valid"] == 7
    assert r["valid_fraction"] == 0.7
    assert (r["n_unique"], r["n_novel"], r["n_rediscovered"], r["n_repeated"]) == (5, 3, 2, 2)
    assert r["n_unique_in_class"] == 1 and r["n_novel_in_class"] == 0
    assert r["ideal_coverage"] == pytest.approx(1 - (1 / 2) ** 7)
    q = metrics.evaluate(seq, 10, sparse_ref, train, space=space)
    assert q["n_samples"] == 7 and q["n_novel_in_class"] == 1
    assert q["precision_neighbor"] == 1 / 7  # W (class 9)


def test_js_distance_unique_ignores_repeats(sparse_ref):
    # Class 1 is {X1, X2} = {(0,1,2,3), (1,0,2,3)}: sites A and B are 1/2-1/2 over elements
    # 0 and 1, sites C and D hold one element each.
    seq = codes_of(X1, X1, X1, X2)
    r = metrics.evaluate(seq, 1, sparse_ref, None, space=space)
    # Distinct compositions: X1 and X2 once each, exactly the class-1 distribution.
    assert r["js_distance_unique"] == 0.0
    # With repeats sites A and B are (3/4, 1/4) against (1/2, 1/2); m = (5/8, 3/8).
    js_site = 0.5 * (0.75 * math.log2(0.75 / 0.625) + 0.25 * math.log2(0.25 / 0.375)) + 0.5 * (
        0.5 * math.log2(0.5 / 0.625) + 0.5 * math.log2(0.5 / 0.375)
    )
    assert r["js_distance"] == pytest.approx(math.sqrt(2 * js_site / 4))
    assert r["js_distance"] > 0.1
    assert r["js_distance"] == pytest.approx(
        metrics.js_distance_to_class(seq, 1, sparse_ref, space))
    assert r["js_distance_unique"] == pytest.approx(
        metrics.js_distance_to_class(np.unique(seq), 1, sparse_ref, space)
    )
    # Without repeats the two agree.
    s = metrics.evaluate(codes_of(X1, Y, W), 1, sparse_ref, None, space=space)
    assert s["js_distance_unique"] == s["js_distance"]


def test_evaluate_matches_single_metrics(a_ref):
    rng = np.random.default_rng(2)
    all_codes = space.all_codes()
    seq = all_codes[rng.integers(0, len(all_codes), 5000)]
    seq = np.concatenate([seq, seq[:1000]])
    train = all_codes[::50]
    for c in (1, 5, 10):
        r = metrics.evaluate(seq, c, a_ref, train, space=space)
        assert r["precision"] == pytest.approx(metrics.precision(seq, c, a_ref))
        assert r["precision_neighbor"] == pytest.approx(metrics.precision_neighbor(seq, c, a_ref))
        assert r["coverage"] == pytest.approx(metrics.coverage(seq, c, a_ref))
        assert r["coverage_neighbor"] == pytest.approx(metrics.coverage_neighbor(seq, c, a_ref))
        assert r["js_distance"] == pytest.approx(
            metrics.js_distance_to_class(seq, c, a_ref, space))
        assert r["js_distance_unique"] == pytest.approx(
            metrics.js_distance_to_class(np.unique(seq), c, a_ref, space)
        )
        assert r["n_novel"] == metrics.n_novel_unique(seq, train, space.n_grid)
        assert r["n_unique"] == len(np.unique(seq))
    with pytest.raises(ValueError, match="no valid samples"):
        metrics.evaluate(codes_of(), 1, a_ref, train, space=space)


def test_aggregate():
    runs = [
        {"precision": 0.1, "n_unique": 10, "model": "vae", "flag": True},
        {"precision": 0.3, "n_unique": 30, "model": "vae", "flag": False},
    ]
    agg = metrics.aggregate(runs)
    assert set(agg) == {"precision", "n_unique"}
    assert agg["precision"]["mean"] == pytest.approx(0.2)
    assert agg["precision"]["std"] == pytest.approx(math.sqrt(0.02))  # ddof=1
    assert agg["n_unique"] == {"mean": 20.0, "std": pytest.approx(math.sqrt(200))}
    single = metrics.aggregate(runs[:1])
    assert single["precision"] == {"mean": 0.1, "std": 0.0}
    assert metrics.aggregate([]) == {}
    json.dumps(agg)


# ----------------------------------------------------------------------- energies


def test_unique_energies_and_histogram(sparse_ref):
    e = np.zeros(space.n_grid, dtype=np.float32)
    e[X1], e[X2], e[Y] = -1.0, -0.9, 0.35
    seq = codes_of(X1, X1, Y, X2)
    np.testing.assert_allclose(np.sort(metrics.unique_energies(seq, e)), [-1.0, -0.9, 0.35])
    np.testing.assert_allclose(
        np.sort(metrics.unique_energies(seq, e, sparse_ref, c=1)), [-1.0, -0.9]
    )
    edges, (h1, h2) = metrics.energy_histogram(np.array([-1.0, -0.9]), np.array([0.35]))
    np.testing.assert_allclose(edges, [-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4], atol=1e-12)
    assert h1.tolist() == [2, 0, 0, 0, 0, 0, 0]
    assert h2.tolist() == [0, 0, 0, 0, 0, 0, 1]


# ----------------------------------------------------------------------- another space

#: Three sites of different sizes (5, 6, 7 elements): 210 grid points, all compositions.


@pytest.fixture(scope="module")
def toy_ref() -> np.ndarray:
    """class = (element on site Z) + 1 (classes 1..7), except grid point 0: no value."""
    el = TOY.decode(np.arange(TOY.n_grid))
    ref = (el[:, 2] + 1).astype(np.int8)
    ref[0] = 0
    return ref


def test_toy_precision_coverage_and_discovery(toy_ref):
    codes = TOY.encode(np.array([[0, 0, 1], [1, 2, 1], [1, 2, 1], [4, 5, 6], [0, 0, 0]]))
    assert metrics.class_sizes(toy_ref).tolist() == [29, 30, 30, 30, 30, 30, 30, 0, 0, 0]
    assert metrics.precision(codes, 2, toy_ref) == pytest.approx(3 / 5)
    assert metrics.coverage(codes, 2, toy_ref) == pytest.approx(2 / 30)
    assert metrics.coverage_neighbor(codes, 6, toy_ref) == pytest.approx(1 / 60)
    assert metrics.grid_counts(codes, TOY.n_grid).sum() == 5
    train = codes[:1]
    d = metrics.discovery_counts(codes, toy_ref, train)
    assert (d["n_unique"], d["n_novel"], d["n_rediscovered"], d["n_repeated"]) == (4, 3, 1, 1)
    assert metrics.n_novel_unique(codes, train, TOY.n_grid) == 3
    with pytest.raises(ValueError, match="must lie in"):
        metrics.precision(np.array([TOY.n_grid]), 1, toy_ref)


def test_toy_site_distributions_are_padded_per_site(toy_ref):
    codes = TOY.encode(np.array([[0, 0, 1], [1, 2, 1], [1, 2, 6], [4, 5, 6]]))
    p = metrics.site_distributions(codes, TOY)
    assert p.shape == (3, 7)  # (n_sites, largest site)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0].tolist() == [0.25, 0.5, 0, 0, 0.25, 0, 0]  # X: 5 elements, 2 pads
    assert p[1].tolist() == [0.25, 0, 0.5, 0, 0, 0.25, 0]  # Y: 6 elements, 1 pad
    assert p[2].tolist() == [0, 0.5, 0, 0, 0, 0, 0.5]
    counts = metrics.grid_counts(codes, TOY.n_grid)
    np.testing.assert_array_equal(metrics.grid_site_distributions(counts, TOY), p)
    q = metrics.class_site_distributions(toy_ref, 2, TOY)  # Z = Cl, everything else uniform
    assert q[2].tolist() == [0, 1, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(q[1, :6], 1 / 6)
    q1 = metrics.class_site_distributions(toy_ref, 1, TOY)  # without grid point 0 (no value)
    np.testing.assert_allclose(q1[1, :6], [4 / 29] + [5 / 29] * 5)
    assert (q[0, 5:] == 0).all() and q[1, 6] == 0


def test_toy_js_distance_and_evaluate(toy_ref):
    members = np.flatnonzero(toy_ref == 3)
    assert metrics.js_distance_to_class(members, 3, toy_ref, TOY) == 0.0
    assert metrics.js_distance_to_class(members, 4, toy_ref, TOY) > 0.3
    seq = np.concatenate([members[:10], members[:3], np.flatnonzero(toy_ref == 4)[:7]])
    r = metrics.evaluate(seq, 3, toy_ref, members[:2], space=TOY)
    assert r["precision"] == pytest.approx(13 / 20)
    assert r["precision_neighbor"] == pytest.approx(7 / 20)
    assert r["coverage"] == pytest.approx(10 / 30)
    assert r["coverage_neighbor"] == pytest.approx(7 / 60)
    assert r["js_distance"] == pytest.approx(metrics.js_distance_to_class(seq, 3, toy_ref, TOY))
    assert (r["n_unique"], r["n_novel"], r["n_repeated"]) == (17, 15, 3)
    table = metrics.reference_js_table(members, np.full(len(members), 3), toy_ref, TOY)
    assert table.shape == (10, 10) and table[2, 2] == 0.0
    with pytest.raises(ValueError, match="shape"):  # the elpasolite's map is not the toy's
        metrics.evaluate(seq, 3, np.zeros(space.n_grid, np.int8), None, space=TOY)
