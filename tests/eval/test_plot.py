"""The success chart: readable, distinct bar labels for long task names."""

from __future__ import annotations

import warnings

import pytest

from hy_vla.eval.plot import MAX_LABEL, bar_labels, plot_success

LIBERO = [
    "libero_object/pick_up_the_alphabet_soup_and_place_it_in_the_basket",
    "libero_object/pick_up_the_bbq_sauce_and_place_it_in_the_basket",
    "libero_object/pick_up_the_butter_and_place_it_in_the_basket",
]
SPATIAL = "libero_spatial/pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate"


def test_labels_drop_what_every_name_shares():
    assert bar_labels(LIBERO) == ["alphabet_soup", "bbq_sauce", "butter"]
    assert bar_labels(["reach-v3", "push-v3"]) == ["reach", "push"]


def test_a_single_long_name_is_cut_in_the_middle():
    (label,) = bar_labels([LIBERO[0]])
    assert len(label) <= MAX_LABEL and label.startswith("libero_object") and label.endswith("basket")


def test_labels_stay_distinct():
    names = ["task_" + "x" * 40 + "_a", "task_" + "x" * 40 + "_b"]  # trimmed they differ; cut they would not
    labels = bar_labels(names)
    assert len(set(labels)) == 2
    assert bar_labels(["a", "a_b"]) == ["a", "a_b"]  # trimming would leave an empty label
    mixed = LIBERO + [SPATIAL, SPATIAL.replace("between_the_plate_and_the_ramekin", "from_table_center")]
    labels = bar_labels(mixed)  # a 32-character cut would make the object tasks' labels equal
    assert len(set(labels)) == len(mixed) and all(len(a) < len(n) for a, n in zip(labels, mixed, strict=True))


def report(names: list[str]) -> dict:
    task = {"success_rate": 0.5, "ci95": [0.2, 0.8]}
    return {"tasks": dict.fromkeys(names, task), "overall": task, "config": {"episodes": 4, "suite": "libero"}}


@pytest.mark.parametrize("names", [LIBERO, [SPATIAL], LIBERO + [SPATIAL]])
def test_chart_fits_its_labels(tmp_path, names):
    """The chart used to warn that its layout did not fit and cut every LIBERO label to '..._basket'."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_success(report(names), tmp_path / "success.png")
    assert path.stat().st_size > 0
