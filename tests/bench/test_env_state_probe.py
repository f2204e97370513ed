"""bench/env_state_probe.py: the image-only prediction equals the head on the full prefix, in simulator units."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from model_fixtures import micro_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from env_state_probe import predict  # noqa: E402

from hy_vla import keys  # noqa: E402
from hy_vla.data.norm_stats import FeatureStats, NormStats  # noqa: E402
from hy_vla.models.dual_tower import encode_prefix  # noqa: E402
from hy_vla.models.env_state_head import EnvStateConfig  # noqa: E402
from hy_vla.models.hy_vla import HyVLA  # noqa: E402


def test_probe_prediction_matches_the_full_prefix_and_is_unnormalized() -> None:
    torch.manual_seed(0)
    cfg = micro_config(history_frames=1, env_state=EnvStateConfig(weight=1.0, dim=6), embodiment="metaworld_sawyer")
    model = HyVLA(cfg).eval()
    mean, std = [0.1, 0.6, 0.05, -0.1, 0.8, 0.1], [0.1, 0.1, 0.05, 0.1, 0.2, 0.05]
    model.norm_stats = NormStats({cfg.embodiment: {keys.ENV_STATE: FeatureStats(mode="mean_std", mean=mean, std=std)}})
    s = cfg.image_size
    obs = {key: np.random.default_rng(0).integers(0, 255, (s, s, 3), dtype=np.uint8) for key in cfg.image_keys}
    got = predict(model, obs)
    batch = {key: torch.from_numpy(obs[key]).permute(2, 0, 1)[None, None] for key in cfg.image_keys}
    batch[keys.STATE] = torch.randn(1, cfg.state_dim)  # the full prefix has the instruction; the image tokens
    batch[keys.TASK] = ["push the puck to the goal"]  # must not depend on it
    with torch.no_grad():
        hidden, _ = encode_prefix(model.backbone, model.embed_prefix(batch))
        normalized = model.env_state_head(hidden, cfg.tokens_per_image)[0].numpy()
    np.testing.assert_allclose(got, normalized * np.array(std) + np.array(mean), rtol=1e-4, atol=1e-5)
