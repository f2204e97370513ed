"""Tests of the norm_stats.json format: round trip, validation errors, pickle refusal, computing stats."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from hy_vla.data.norm_stats import FILENAME, FeatureStats, NormStats, PickleRefusedError, compute_norm_stats


def _feature(mode: str = "mean_std", d: int = 3) -> dict:
    return {
        "mode": mode,
        "count": 100,
        "mean": [0.5] * d,
        "std": [2.0] * d,
        "min": [-4.0] * d,
        "max": [5.0] * d,
        "q01": [-3.0] * d,
        "q99": [4.0] * d,
    }


def _doc() -> dict:
    return {
        "format": "hy-vla/norm-stats",
        "version": 1,
        "embodiments": {
            "aloha": {"observation.state": _feature("mean_std", 3), "action": _feature("quantile", 3)},
            "franka": {"action": _feature("min_max", 2)},
        },
    }


def test_json_round_trip(tmp_path: Path) -> None:
    stats = NormStats.from_dict(_doc())
    assert stats.to_dict() == _doc()
    path = stats.save(tmp_path / FILENAME)
    assert json.loads(path.read_text()) == _doc()
    assert NormStats.load(path) == stats
    assert NormStats.load(tmp_path) == stats  # a directory resolves to its norm_stats.json
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]  # no temp file left behind
    assert stats.embodiments() == ["aloha", "franka"]
    assert stats.keys("aloha") == ["observation.state", "action"]
    assert stats.get("action", "franka").dim == 2


def test_identity_feature_may_omit_stats() -> None:
    doc = _doc()
    doc["embodiments"]["aloha"]["task_id"] = {"mode": "identity"}
    stats = NormStats.from_dict(doc)
    fs = stats.get("task_id", "aloha")
    assert fs.dim is None and fs.count == 0
    x = np.arange(4.0)
    assert stats.normalize("task_id", x, "aloha") is x


def _set(path: list[str], value: object) -> dict:
    doc = copy.deepcopy(_doc())
    node = doc
    for p in path[:-1]:
        node = node[p]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()
_ACTION = ["embodiments", "aloha", "action"]  # quantile mode


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (_ACTION + ["mode"], _DELETE, "field 'mode' is missing"),
        (_ACTION + ["mode"], "zscore", "field 'mode' is 'zscore'"),
        (_ACTION + ["q99"], _DELETE, r"needs field\(s\) \['q99'\]"),
        (_ACTION + ["std"], [1.0, 1.0], "field 'std' has width 2, expected 3"),
        (_ACTION + ["mean"], [0.0, float("nan"), 0.0], r"field 'mean' has NaN/inf at channels \[1\]"),
        (_ACTION + ["max"], [1.0, float("inf"), 1.0], "field 'max' has NaN/inf"),
        (_ACTION + ["std"], [1.0, -0.1, 1.0], r"field 'std' is negative at channels \[1\]"),
        (_ACTION + ["min"], [-4.0, -4.0, 6.0], r"field 'min' exceeds 'max' at channels \[2\]"),
        (_ACTION + ["q01"], [5.0, -3.0, -3.0], r"field 'q01' exceeds 'q99' at channels \[0\]"),
        (_ACTION + ["count"], -1, "field 'count' must be a non-negative integer"),
        (_ACTION + ["q1"], [0.0], r"unknown field\(s\) \['q1'\]"),
        (_ACTION + ["mean"], [[0.0, 1.0, 2.0]], "field 'mean' must be a flat list"),
        (_ACTION + ["mean"], ["a", "b", "c"], "field 'mean' must be a list of numbers"),
    ],
)
def test_validation_errors_name_embodiment_key_and_field(path: list[str], value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        NormStats.from_dict(_set(path, value))
    assert str(err.value).startswith("embodiment 'aloha', key 'action': ")


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (["format"], "lerobot", "field 'format' is 'lerobot'"),
        (["version"], 2, "field 'version' is 2"),
        (["embodiments"], [], "field 'embodiments' must be an object"),
    ],
)
def test_header_errors(path: list[str], value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NormStats.from_dict(_set(path, value))


def test_load_validates_and_names_file(tmp_path: Path) -> None:
    bad = _set(_ACTION + ["q99"], [4.0, 4.0])
    (tmp_path / FILENAME).write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"norm_stats.json: embodiment 'aloha', key 'action': field 'q99' has width 2"):
        NormStats.load(tmp_path / FILENAME)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON norm stats file"):
        NormStats.load(tmp_path / "broken.json")


def test_construction_validates_mutated_arrays() -> None:
    fs = FeatureStats.from_dict(_feature("min_max"))
    fs.min[0] = 100.0  # arrays stay mutable; NormStats re-checks what it is handed
    with pytest.raises(ValueError, match="embodiment 'r', key 'action': field 'min' exceeds 'max'"):
        NormStats({"r": {"action": fs}})


def test_expected_dims() -> None:
    stats = NormStats.from_dict(_doc())
    stats.validate({"action": 3}, embodiment="aloha")
    with pytest.raises(ValueError, match="embodiment 'franka', key 'action': stats have width 2, expected 3"):
        stats.validate({"action": 3})
    with pytest.raises(ValueError, match="embodiment 'franka', key 'observation.state': missing"):
        stats.validate({"observation.state": 3})


class _Evil:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.marker),))

    def __init__(self, marker: str) -> None:
        self.marker = marker


@pytest.mark.parametrize("name", ["norm_stats.pkl", "norm_stats.json"])
def test_pickle_refused_without_unpickling(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"stats": _Evil(str(marker))}, protocol=4))  # starts with 0x80
    with pytest.raises(PickleRefusedError, match="unpickling runs arbitrary code"):
        NormStats.load(path)
    assert not marker.exists()  # the payload never ran


def test_normalize_through_normstats_numpy_and_torch() -> None:
    stats = NormStats.from_dict(_doc())
    x = np.array([[-3.0, 0.5, 4.0]])
    np.testing.assert_allclose(stats.normalize("action", x, "aloha"), [[-1.0, 0.0, 1.0]])  # quantile
    t = torch.tensor(x, dtype=torch.float32)
    y = stats.normalize("observation.state", t, "aloha")
    assert isinstance(y, torch.Tensor)
    torch.testing.assert_close(stats.unnormalize("observation.state", y, "aloha"), t)
    with pytest.raises(ValueError, match="pass embodiment="):
        stats.normalize("action", x)  # two embodiments: ambiguous
    with pytest.raises(KeyError, match="no normalization stats for key 'gripper'"):
        stats.normalize("gripper", x, "aloha")
    single = NormStats({"aloha": {"action": stats.get("action", "aloha")}})
    np.testing.assert_allclose(single.normalize("action", x), [[-1.0, 0.0, 1.0]])


def test_with_mode() -> None:
    stats = NormStats.from_dict(_doc())
    mm = stats.with_mode("action", "min_max")
    assert mm.get("action", "aloha").mode == "min_max" and mm.get("action", "franka").mode == "min_max"
    assert stats.get("action", "aloha").mode == "quantile"  # the original is unchanged
    only = stats.with_mode("action", "identity", embodiment="franka")
    assert only.get("action", "aloha").mode == "quantile" and only.get("action", "franka").mode == "identity"
    lean = NormStats({"r": {"a": FeatureStats(mode="mean_std", mean=[0.0], std=[1.0])}})
    with pytest.raises(ValueError, match=r"embodiment 'r', key 'a': mode 'quantile' needs field\(s\)"):
        lean.with_mode("a", "quantile")


def test_warnings_and_summary_table() -> None:
    doc = _doc()
    doc["embodiments"]["franka"]["action"]["min"] = [-4.0, 1.0]
    doc["embodiments"]["franka"]["action"]["max"] = [5.0, 1.0]  # constant gripper
    stats = NormStats.from_dict(doc)
    warnings = stats.warnings()
    assert len(warnings) == 1 and "'franka', key 'action'" in warnings[0] and "[1]" in warnings[0]
    table = stats.summary_table().splitlines()
    assert len(table) == 2 + 3  # header, rule, one row per (embodiment, key)
    assert table[0].split()[:5] == ["embodiment", "key", "dim", "mode", "count"]
    assert table[4].split()[:5] == ["franka", "action", "2", "min_max", "100"]
    assert "[-4, 1]" in table[4]


def test_union() -> None:
    a = NormStats.from_dict(_doc())
    b = NormStats({"ur5": {"action": FeatureStats(mode="identity")}})
    assert a.union(b).embodiments() == ["aloha", "franka", "ur5"]
    with pytest.raises(ValueError, match=r"\['ur5'\] appear in both"):
        b.union(b)


def test_compute_norm_stats_on_generator() -> None:
    rng = np.random.default_rng(0)
    state = rng.normal(loc=1.0, scale=3.0, size=(2000, 4))
    action = rng.uniform(-2.0, 2.0, size=(2000, 5, 2))  # (N, H, A): chunk steps count as samples
    action[..., 1] = 1.0  # constant gripper

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, 2000, 128):
            yield {"observation.state": state[i : i + 128], "action": torch.from_numpy(action[i : i + 128])}

    stats = compute_norm_stats(
        batches(), ["observation.state", "action"], {"observation.state": "mean_std", "action": "quantile"}, "sim"
    )
    assert stats.embodiments() == ["sim"]
    fs = stats.get("observation.state")
    assert fs.count == 2000 and fs.mode == "mean_std"
    np.testing.assert_allclose(fs.mean, state.mean(0), rtol=1e-10)
    np.testing.assert_allclose(fs.std, state.std(0), rtol=1e-10)
    fa = stats.get("action")
    assert fa.count == 10_000 and fa.dim == 2
    np.testing.assert_allclose(fa.q99, np.quantile(action.reshape(-1, 2), 0.99, axis=0))  # n <= k: exact
    assert fa.zero_range_channels() == [1]
    y = stats.normalize("action", action)
    assert np.isfinite(y).all() and np.allclose(y[..., 1], 0.0)


def test_compute_norm_stats_errors() -> None:
    batch = {"action": np.zeros((4, 2))}
    with pytest.raises(ValueError, match="key 'action' has no normalization mode"):
        compute_norm_stats([batch], ["action"], {}, "r")
    with pytest.raises(ValueError, match="batch 1 has no key 'action'"):
        compute_norm_stats([batch, {}], ["action"], {"action": "min_max"}, "r")
    with pytest.raises(ValueError, match=r"embodiment 'r', key 'action': expected rows of shape \(N, 2\)"):
        compute_norm_stats([batch, {"action": np.zeros((4, 3))}], ["action"], {"action": "min_max"}, "r")
    with pytest.raises(ValueError, match="iterator was empty"):
        compute_norm_stats(iter([]), ["action"], {"action": "min_max"}, "r")
