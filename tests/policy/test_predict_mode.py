"""Choosing HybridVLA's predict mode at evaluation time (`hy-vla eval --predict-mode`)."""

import dataclasses
import pickle

import numpy as np
import pytest
from model_fixtures import micro_config

from hy_vla import HyVLA
from hy_vla.models.decoders.hybrid import HybridConfig
from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.rollout.factories import CheckpointFactory


def _hybrid_checkpoint(tmp_path):
    bb = micro_config().backbone
    cfg = micro_config(
        camera_names=("corner2",),
        embodiment="metaworld_sawyer",
        state_dim=4,
        action_dim=4,
        decoder="hybrid",
        hybrid=HybridConfig(num_bins=16, predict_mode="diff"),
        backbone=dataclasses.replace(bb, vocab_size=259 + 16),
    )
    return HyVLA(cfg).save_pretrained(tmp_path / "hybrid")


def _obs():
    rng = np.random.default_rng(0)
    return {
        "observation.images.corner2": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
        "observation.state": np.zeros(4, dtype=np.float32),
        "prompt": "open the drawer",
    }


def _bin_centers(n: int = 16) -> np.ndarray:
    return -1.0 + (np.arange(n) + 0.5) * 2.0 / n


def test_ar_mode_overrides_the_trained_mode(tmp_path):
    ckpt = _hybrid_checkpoint(tmp_path)
    trained = CheckpointPolicy.from_checkpoint(ckpt, seed=0).infer(_obs())["actions"]
    ar = CheckpointPolicy.from_checkpoint(ckpt, seed=0, predict_mode="ar")
    assert ar.metadata["predict_mode"] == "ar"
    ar_actions = ar.infer(_obs())["actions"]
    # without norm stats the AR actions are exactly bin centres; the flow actions (trained mode "diff") are not
    centers = _bin_centers()
    assert np.abs(ar_actions[..., None] - centers).min(-1).max() < 1e-5
    assert np.abs(trained[..., None] - centers).min(-1).max() > 1e-3
    # "diff" requested explicitly = the checkpoint's own mode, same seed -> same actions
    diff = CheckpointPolicy.from_checkpoint(ckpt, seed=0, predict_mode="diff").infer(_obs())["actions"]
    np.testing.assert_array_equal(diff, trained)


def test_predict_mode_refused_for_other_decoders_and_bad_names(tmp_path):
    cfg = micro_config(camera_names=("corner2",), embodiment="metaworld_sawyer", state_dim=4, action_dim=4)
    plain = HyVLA(cfg).save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match="needs a checkpoint with decoder 'hybrid'"):
        CheckpointPolicy.from_checkpoint(plain, predict_mode="ar")
    with pytest.raises(ValueError, match="not in"):
        CheckpointPolicy.from_checkpoint(_hybrid_checkpoint(tmp_path), predict_mode="beam")


def test_factories_carry_the_mode_to_workers(tmp_path):
    ckpt = str(_hybrid_checkpoint(tmp_path))
    for factory_cls in (CheckpointFactory,):
        factory = pickle.loads(pickle.dumps(factory_cls(ckpt, "cpu", "ar")))  # as a spawn worker receives it
        assert factory.predict_mode == "ar" and factory._policy is None
        assert factory("any task").predict_mode == "ar"
