"""The reported metrics, described once (elpagen.metric_specs), and the tables reading them."""

from __future__ import annotations

import dataclasses

from elpagen import agreement, expected, metric_specs, submission
from elpagen.harness import frontier
from elpagen.metric_specs import Direction, MetricSpec, View
from elpagen.metrics import METRIC_KEYS


def test_a_member_is_its_key_and_carries_its_description():
    p = MetricSpec.PRECISION_NEIGHBOR
    assert p == "precision_neighbor" and p.key == "precision_neighbor"
    assert {p: 1}["precision_neighbor"] == 1  # a dict key like the stored string
    assert (p.label, p.title, p.digits) == ("prec. neigh.", "precision (neighbours)", 4)
    assert MetricSpec.JS_DISTANCE.direction is Direction.LOWER
    assert MetricSpec.COVERAGE.width == 19 and MetricSpec.PRECISION.width == 17
    assert MetricSpec.N_UNIQUE.count and not MetricSpec.COVERAGE.count
    assert metric_specs.get("coverage") is MetricSpec.COVERAGE
    for m in MetricSpec:
        assert m.views, m


def test_the_tables_read_their_columns_from_the_specs():
    assert metric_specs.keys(View.BENCHMARK) == tuple(METRIC_KEYS)
    assert frontier.POINT_KEYS == ("precision", "coverage", "js_distance")
    assert frontier.EXPECTED_POINT_KEYS == ("precision", "coverage", "js_distance_limit")
    assert expected.EXPECTED_KEYS == ("precision", "precision_neighbor", "coverage",
                                      "coverage_neighbor", "js_distance_limit", "n_unique")
    assert agreement.CHECKED == ("precision", "coverage")
    assert submission.HEADLINE == tuple(METRIC_KEYS)
    # The submission's dataclasses (its schema) hold exactly the described metrics.
    assert {f.name for f in dataclasses.fields(submission.Summary)} == set(
        metric_specs.keys(View.SUBMISSION))
    assert [f.name for f in dataclasses.fields(submission.FrontierPoint)][1:] == list(
        metric_specs.keys(View.FRONTIER))


def test_the_printed_header_comes_from_the_labels():
    from elpagen.harness.benchmark import benchmark_table

    result = {"target_class": 1, "samples": 10, "seeds": 1, "protocol": "fast",
              "class_size": 5, "ideal_coverage": 0.5, "models": {}}
    head = benchmark_table(result).splitlines()[1]
    assert head == (f"{'model':<10}{'precision':>17}{'prec. neigh.':>17}{'coverage':>19}"
                    f"{'cov. neigh.':>19}{'JS dist.':>17}{'time [s]':>10}")
