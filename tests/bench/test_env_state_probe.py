"""bench/env_state_probe.py: the image-only prediction equals the head on the full prefix, in simulator units;
the head's trained weights come from the training checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from model_fixtures import micro_batch, micro_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from env_state_probe import predict  # noqa: E402

from hy_vla import keys  # noqa: E402
from hy_vla.data.norm_stats import FeatureStats, NormStats  # noqa: E402
from hy_vla.models.dual_tower import encode_prefix  # noqa: E402
from hy_vla.models.hy_vla import HyVLA  # noqa: E402
from hy_vla.training.config import TrainConfig  # noqa: E402
from hy_vla.training.objectives import EnvStateConfig, attach_objectives, load_with_objectives  # noqa: E402

COLUMN = "observation.environment_state"


def test_probe_prediction_matches_the_full_prefix_and_is_unnormalized() -> None:
    torch.manual_seed(0)
    cfg = micro_config(history_frames=1, embodiment="metaworld_sawyer")
    model = attach_objectives(HyVLA(cfg), TrainConfig(env_state=EnvStateConfig(weight=1.0, dim=6))).eval()
    mean, std = [0.1, 0.6, 0.05, -0.1, 0.8, 0.1], [0.1, 0.1, 0.05, 0.1, 0.2, 0.05]
    model.norm_stats = NormStats({cfg.embodiment: {COLUMN: FeatureStats(mode="mean_std", mean=mean, std=std)}})
    s = cfg.image_size
    obs = {key: np.random.default_rng(0).integers(0, 255, (s, s, 3), dtype=np.uint8) for key in cfg.image_keys}
    got = predict(model, obs)
    batch = {key: torch.from_numpy(obs[key]).permute(2, 0, 1)[None, None] for key in cfg.image_keys}
    batch[keys.STATE] = torch.randn(1, cfg.state_dim)  # the full prefix has the instruction; the image tokens
    batch[keys.TASK] = ["push the puck to the goal"]  # must not depend on it
    with torch.no_grad():
        hidden, _ = encode_prefix(model.backbone, model.embed_prefix(batch))
        normalized = model.objectives["env_state"].predict(hidden, cfg.tokens_per_image)[0].numpy()
    np.testing.assert_allclose(got, normalized * np.array(std) + np.array(mean), rtol=1e-4, atol=1e-5)


def test_load_with_objectives_restores_the_trained_head(tmp_path) -> None:
    from training.training_helpers import micro_samples

    from hy_vla.training import Trainer
    from hy_vla.training.run_config import RunConfig, sample_config_for

    cfg = micro_config()
    train = TrainConfig(out_dir=str(tmp_path), steps=2, batch_size=2, warmup_steps=1, tensorboard=False,
                        device="cpu", ema_decay=0.9, env_state=EnvStateConfig(weight=1.0, dim=3))  # fmt: skip
    RunConfig(cfg, sample_config_for(cfg, train), train, dataset="unused").save(tmp_path)
    model = attach_objectives(HyVLA(cfg), train)
    samples = micro_samples(cfg, 4)
    for s in samples.samples:
        s[keys.EXTRA_PREFIX + "env_state"] = torch.randn(3)
    trainer = Trainer(model, train, samples)
    trainer.fit()
    loaded = load_with_objectives(tmp_path)
    ema = trainer.ema.state_dict()
    for name, p in loaded.objectives.state_dict().items():
        torch.testing.assert_close(p, ema[f"objectives.{name}"])
    batch = micro_batch(cfg)
    with torch.no_grad():
        assert loaded.objectives["env_state"].predict(loaded.encode_images(batch, 2), cfg.tokens_per_image).shape == (
            2,
            3,
        )
