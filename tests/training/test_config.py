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
