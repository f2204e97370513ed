"""Our LeRobot v3 writer and reader: round trip, metadata, atomic finalize, clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from data.data_fixtures import FEATURES, LENGTHS, TASKS, episode_columns, make_lerobot, smooth_frames

from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.lerobot.writer import LeRobotV3Writer
from hy_vla.data.video import psnr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lerobot(tmp_path_factory.mktemp("lr") / "ds")


def test_round_trip(dataset: Path) -> None:
    ds = LeRobotV3Dataset(dataset)
    assert (ds.num_episodes, ds.num_frames, ds.fps) == (3, sum(LENGTHS), 10)
    assert ds.tasks == ["reach the goal", "push the puck"]
    assert ds.camera_keys == ["observation.images.front", "observation.images.wrist"]
    assert ds.embodiment == "toy_arm" and ds.robot_type == "toy"
    for ep, n in enumerate(LENGTHS):
        info = ds.episode(ep)
        assert (info.length, info.task, info.start) == (n, TASKS[ep], sum(LENGTHS[:ep]))
        cols = episode_columns(ep, n)
        np.testing.assert_array_equal(ds.column("observation.state", ep), cols["observation.state"])
        np.testing.assert_array_equal(ds.column("action", ep), cols["action"])
        front = ds.images("observation.images.front", ep, np.arange(n))
        wrist = ds.images("observation.images.wrist", ep, [n - 1, 0])
        assert front.shape == (n, 64, 64, 3) and wrist.shape == (2, 32, 48, 3)
        assert psnr(front, smooth_frames(n, 64, 64, ep)) > 33
        assert psnr(wrist, smooth_frames(n, 32, 48, ep + 10)[[n - 1, 0]]) > 33
    f = ds.frame(LENGTHS[0] + 3)
    assert (f["episode_index"], f["frame_index"], f["task"]) == (1, 3, "push the puck")
    assert f["timestamp"] == pytest.approx(0.3)
    np.testing.assert_array_equal(f["action"], [3, -1])


def test_metadata_files(dataset: Path) -> None:
    info = json.loads((dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["embodiment"] == "toy_arm"
    assert info["total_episodes"] == 3 and info["total_tasks"] == 2 and info["splits"] == {"train": "0:3"}
    assert info["features"]["observation.images.front"]["info"]["video.codec"] in ("av1", "h264")
    assert info["features"]["observation.images.wrist"]["info"]["video.codec"] == "h264"  # too small for AV1
    assert info["features"]["index"] == {"dtype": "int64", "shape": [1], "names": None}
    stats = json.loads((dataset / "meta/stats.json").read_text())
    assert set(stats["action"]) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert stats["action"]["count"] == [sum(LENGTHS)]
    assert np.array(stats["observation.images.front"]["mean"]).shape == (3, 1, 1)
    eps = pq.read_table(dataset / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert eps[1]["videos/observation.images.front/from_timestamp"] == pytest.approx(LENGTHS[0] / 10)
    assert eps[2]["dataset_from_index"] == LENGTHS[0] + LENGTHS[1]
    tasks = pq.read_table(dataset / "meta/tasks.parquet")
    assert tasks.schema.pandas_metadata["index_columns"] == ["__index_level_0__"]
    norm = json.loads((dataset / "norm_stats.json").read_text())
    assert set(norm["embodiments"]["toy_arm"]) == {"observation.state", "action"}


def test_bad_episode_index(dataset: Path) -> None:
    with pytest.raises(IndexError, match=r"episode 3 out of range \[0, 3\)"):
        LeRobotV3Dataset(dataset).episode(3)


def test_nothing_at_root_until_finalize(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = LeRobotV3Writer.create(root, fps=10, features={k: FEATURES[k] for k in ("observation.state", "action")})
    w.add_episode(episode_columns(0, 5), "t")
    assert not root.exists()
    w.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="boom"):
        with LeRobotV3Writer.create(root, fps=10, features={"action": FEATURES["action"]}) as w2:
            w2.add_frame({"action": np.zeros(2, np.float32)}, task="t")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_add_frame_path_and_existing_root(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = LeRobotV3Writer.create(root, fps=5, features={"action": FEATURES["action"]}, embodiment="e")
    for i in range(4):
        w.add_frame({"action": np.array([i, 0], np.float32)}, task="go")
    w.save_episode()
    w.finalize()
    ds = LeRobotV3Dataset(root)
    np.testing.assert_array_equal(ds.column("action", 0)[:, 0], [0, 1, 2, 3])
    with pytest.raises(FileExistsError):
        LeRobotV3Writer.create(root, fps=5, features={"action": FEATURES["action"]})


def test_bad_frames_rejected(tmp_path: Path) -> None:
    w = LeRobotV3Writer.create(tmp_path / "ds", fps=10, features=FEATURES)
    cols = episode_columns(0, 4)
    cols["observation.images.front"] = np.zeros((4, 64, 64, 3), np.float32)
    cols["observation.images.wrist"] = np.zeros((4, 32, 48, 3), np.uint8)
    with pytest.raises(ValueError, match="observation.images.front"):
        w.add_episode(cols, "t")
    cols["observation.images.front"] = np.zeros((4, 64, 64, 3), np.uint8)
    cols["action"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="'action'.*shape"):
        w.add_episode(cols, "t")
    w.abort()


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_meta_file(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path / "c")
    (root / "meta/info.json").unlink()
    with pytest.raises(FileNotFoundError, match="info.json"):
        LeRobotV3Dataset(root)


def test_truncated_parquet(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path / "c")
    path = root / "data/chunk-000/file-000.parquet"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="file-000.parquet"):
        LeRobotV3Dataset(root)


def test_truncated_video(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path / "c")
    path = root / "videos/observation.images.front/chunk-000/file-000.mp4"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="observation.images.front.*file-000.mp4"):
        LeRobotV3Dataset(root)


def test_shape_mismatch_in_info(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path / "c")
    info = json.loads((root / "meta/info.json").read_text())
    info["features"]["action"]["shape"] = [3]
    info["features"]["action"]["names"] = None
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="'action'.*width 2.*shape \\[3\\]"):
        LeRobotV3Dataset(root)


@pytest.mark.parametrize(
    "template",
    ["videos/{video_key.__class__.__init__.__globals__}/x.mp4",  # attribute access: a format-string probe
     "../../outside/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
     "/tmp/{video_key}/file-{file_index:03d}.mp4", "videos/{video_key!r}/{chunk_index}.mp4"],
)  # fmt: skip
def test_video_path_templates_cannot_reach_outside_the_dataset(dataset: Path, tmp_path: Path, template: str) -> None:
    """Regression: info.json's video path was evaluated as a Python format string and could leave the dataset."""
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    info = json.loads((copy / "meta" / "info.json").read_text())
    info["video_path"] = template
    (copy / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="video_path"):
        LeRobotV3Dataset(copy)


def test_partial_directories_of_killed_writers_are_removed_by_the_next_one(tmp_path: Path) -> None:
    """Regression: a killed collection left its hidden partial directory behind forever."""
    import subprocess
    import sys

    from hy_vla.data.lerobot.writer import remove_stale_partials

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".ds.partial-{int(dead.stdout)}-abcd1234"  # a pid that no longer runs
    old_style = tmp_path / ".ds.partial-0123abcd"  # no pid: written before partial names carried one
    live = tmp_path / f".ds.partial-{os.getpid()}-ffff0000"  # this process: still writing
    other = tmp_path / ".other.partial-1-x"
    for d in (stale, old_style, live, other):
        (d / "data").mkdir(parents=True)
    assert sorted(remove_stale_partials(tmp_path / "ds")) == sorted([stale, old_style])
    assert live.exists() and other.exists()


def test_extra_files_appear_with_the_dataset(tmp_path: Path) -> None:
    """A collection summary is inside the dataset before its rename: a kill in between leaves both or neither."""
    w = LeRobotV3Writer.create(tmp_path / "ds", fps=10, features=FEATURES, robot_type="toy", embodiment="toy_arm")
    images = {"observation.images.front": smooth_frames(3, 64, 64, 0),
              "observation.images.wrist": smooth_frames(3, 32, 48, 0)}  # fmt: skip
    w.add_episode(episode_columns(0, 3) | images, "task")
    root = w.finalize(extra_files={"collection.json": '{"kept": 1}\n'})
    assert json.loads((root / "collection.json").read_text()) == {"kept": 1}


def test_features_of_newer_lerobot_versions_are_skipped_with_a_warning(dataset: Path, tmp_path: Path) -> None:
    """Regression: one unknown feature dtype or shape (LeRobot 0.6's multi-dimensional arrays, depth videos, new
    dtypes) refused the whole dataset."""
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    info = json.loads((copy / "meta" / "info.json").read_text())
    info["features"]["observation.points"] = {"dtype": "float32", "shape": [4, 3], "names": None}
    info["features"]["observation.images.depth"] = {"dtype": "video", "shape": [64, 64, 1], "names": None}
    info["features"]["observation.audio"] = {"dtype": "audio", "shape": [16000], "names": None}
    (copy / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.warns(UserWarning, match="skipping features"):
        ds = LeRobotV3Dataset(copy)
    assert set(ds.info["skipped_features"]) == {"observation.points", "observation.images.depth", "observation.audio"}
    assert (
        ds.camera_keys == LeRobotV3Dataset(dataset).camera_keys
        and ds.num_frames == LeRobotV3Dataset(dataset).num_frames
    )
    info["features"]["index"] = {"dtype": "audio", "shape": [1], "names": None}  # the index columns must be readable
    (copy / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="index"):
        LeRobotV3Dataset(copy)
