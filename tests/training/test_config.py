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
    sawyer = sample_config_for(model_config("hy-vla-tiny").replace(embodiment="metaworld_sawyer"))
    assert sawyer.representation["kind"] == "absolute"
    assert sample_config_for(model_config("hy-vla-tiny").replace(embodiment="unregistered")).representation == {
        "kind": "absolute"
    }
