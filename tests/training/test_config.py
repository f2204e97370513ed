import json

import pytest

from hy_vla.training.config import TrainConfig


def test_json_round_trip() -> None:
    c = TrainConfig(steps=5, batch_size=8, grad_accum=4, freeze_expert_layers=(0, 1), ema_decay=0.99)
    c = c.replace(stage="uac", max_delay=3)
    d = json.loads(json.dumps(c.to_dict()))
    assert TrainConfig.from_dict(d) == c
    assert c.micro_batch_size == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 6, "grad_accum": 4}, "divisible"),
        ({"stage": "rl"}, "stage"),
        ({"stage": "uac"}, "max_delay"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"min_lr": 1.0, "lr": 0.1}, "min_lr"),
        ({"device": "tpu"}, "device"),
        ({"cache_frames": True, "num_workers": 2}, "copy them into each worker"),
    ],
)
def test_validation(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_unknown_field_suggests() -> None:
    with pytest.raises(ValueError, match="did you mean 'grad_clip'"):
        TrainConfig.from_dict({"grad_clipp": 1.0})


def test_training_uses_the_embodiment_action_representation():
    """Regression: runs always trained absolute actions while CheckpointPolicy decoded with the
    embodiment's representation (delta_eef for RoboTwin), so a RoboTwin policy would be decoded wrongly."""
    from hy_vla.presets import model_config
    from hy_vla.training.run_config import sample_config_for

    robotwin = sample_config_for(model_config("hy-vla-tiny"))  # embodiment robotwin_dual_eef
    assert robotwin.representation["kind"] == "delta_eef"
    sawyer_model = model_config("hy-vla-tiny").replace(embodiment="metaworld_sawyer", state_dim=4, action_dim=4)
    sawyer = sample_config_for(sawyer_model)
    assert sawyer.representation["kind"] == "absolute"
    assert sample_config_for(model_config("hy-vla-tiny").replace(embodiment="unregistered")).representation == {
        "kind": "absolute"
    }


def test_flow_time_sampling_is_a_training_setting_and_old_configs_move_it() -> None:
    """The model config holds architecture only: how training draws flow times lives in TrainConfig.flow."""
    from model_fixtures import micro_config

    from hy_vla.flow.flow_matching import FlowConfig
    from hy_vla.models.config import HyVLAConfig
    from hy_vla.training.run_config import RunConfig, sample_config_for

    cfg = micro_config()
    assert "flow" not in cfg.to_dict(all_sections=True)
    old_flow = {"time_sampler": "logit_normal", "beta_alpha": 1.5, "beta_beta": 1.0, "beta_s": 0.999,
                "logit_mean": 0.0, "logit_std": 1.0, "train_draws": 1}  # fmt: skip
    assert HyVLAConfig.from_dict({**cfg.to_dict(), "flow": old_flow}) == cfg
    run = RunConfig(cfg, sample_config_for(cfg), TrainConfig(), "unused").to_dict()
    run["model"]["flow"] = old_flow
    del run["train"]["flow"]
    assert RunConfig.from_dict(run).train.flow == FlowConfig(time_sampler="logit_normal")
    assert TrainConfig.from_dict(TrainConfig(flow=FlowConfig(logit_std=2.0)).to_dict()).flow.logit_std == 2.0
