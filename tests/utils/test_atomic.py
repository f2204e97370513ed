import os
import stat

import pytest

from hy_vla.data.norm_stats import FeatureStats, NormStats
from hy_vla.utils.atomic import atomic_write_json, atomic_write_text


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_written_files_get_ordinary_permissions(tmp_path):
    """Regression: NormStats.save left norm_stats.json readable by its owner only (mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a.txt", "hello")
        assert p.read_text() == "hello" and _mode(p) == 0o644
        stats = NormStats({"e": {"action": FeatureStats(mode="mean_std", count=1, mean=[0.0], std=[1.0])}})
        saved = stats.save(tmp_path)
        assert saved.name == "norm_stats.json" and _mode(saved) == 0o644
    finally:
        os.umask(old)


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    p = atomic_write_json(tmp_path / "x.json", {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(p, {"a": float("nan")})
    assert p.read_text().strip().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]
