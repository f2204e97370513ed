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


def test_checkpoint_tensor_files_are_as_readable_as_their_json(tmp_path) -> None:
    """Regression: model.safetensors and training_state.safetensors were written 0600 beside 0644 JSON files."""
    import stat

    from model_fixtures import micro_config
    from training.training_helpers import micro_samples

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training import TrainConfig, Trainer

    old = os.umask(0o022)
    try:
        cfg = micro_config()
        tc = TrainConfig(out_dir=str(tmp_path), steps=1, batch_size=2, tensorboard=False, device="cpu")
        Trainer(HyVLA(cfg), tc, micro_samples(cfg, 2)).fit()
    finally:
        os.umask(old)
    ckpt = tmp_path / "checkpoints" / "1"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in ckpt.iterdir()}
    assert modes["model.safetensors"] == modes["training_state.safetensors"] == modes["config.json"] == 0o644, modes
