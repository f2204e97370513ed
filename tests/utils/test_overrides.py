"""Typed `--set` overrides: each raw string becomes a value of the field's declared type, or a clear error."""

from __future__ import annotations

from typing import Literal

import pytest

from hy_vla.data.samples import SampleConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.presets import model_config
from hy_vla.training.config import TrainConfig
from hy_vla.training.run_config import apply_overrides, parse_overrides
from hy_vla.utils.overrides import coerce, field_type, typed


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "off"])
def test_false_strings_are_the_boolean_false(raw: str) -> None:
    assert coerce(raw, bool) is False


@pytest.mark.parametrize("raw", ["true", "True", "1", "yes"])
def test_true_strings_are_the_boolean_true(raw: str) -> None:
    assert coerce(raw, bool) is True


def test_scalars_optionals_tuples_literals() -> None:
    assert coerce("3", int) == 3 and coerce("3e-4", float) == 3e-4 and coerce("x", str) == "x"
    assert coerce("none", float | None) is None and coerce("0.999", float | None) == 0.999
    assert coerce("0.9,0.95", tuple[float, float]) == (0.9, 0.95)
    assert coerce("[1, 2, 3]", tuple[int, ...]) == (1, 2, 3) and coerce("", tuple[int, ...]) == ()
    assert coerce('["topview","behindGripper"]', tuple[str, ...]) == ("topview", "behindGripper")
    assert coerce("a,b", tuple[str, ...]) == ("a", "b")
    assert coerce("fsdp", Literal["ddp", "fsdp"]) == "fsdp"
    with pytest.raises(ValueError, match="one of"):
        coerce("zero", Literal["ddp", "fsdp"])


@pytest.mark.parametrize(
    ("raw", "hint", "match"),
    [("abc", float, "expected a number"), ("2.5", int, "expected an integer"), ("maybe", bool, "boolean"),
     ("1,2,3", tuple[float, float], "expected 2 values")],
)  # fmt: skip
def test_wrong_types_are_refused(raw, hint, match) -> None:
    with pytest.raises(ValueError, match=match):
        coerce(raw, hint)


def test_nested_field_types_and_unknown_keys() -> None:
    assert field_type(HyVLAConfig, "vision.depth") is int
    with pytest.raises(ValueError, match="(?i)did you mean: model.horizon"):
        field_type(HyVLAConfig, "horizn", "model.")
    with pytest.raises(ValueError, match="vision.depth"):
        field_type(HyVLAConfig, "vision.dept", "model.")
    with pytest.raises(ValueError, match="not a nested config"):
        field_type(HyVLAConfig, "horizon.x", "model.")
    assert typed(TrainConfig, "ema_decay", 0.5) == 0.5  # non-strings (recipes in code) pass through


def test_apply_overrides_types_every_section() -> None:
    sets = parse_overrides(["wandb=false", "freeze_vision=True", "lr=3e-4", "ema_decay=none",
                            "model.horizon=8", "model.vision.stem=conv", "data.frame_stride=2"])  # fmt: skip
    model, data, train = apply_overrides(model_config("hy-vla-tiny"), TrainConfig(wandb=True), sets)
    assert train.wandb is False and train.freeze_vision is True and train.lr == 3e-4 and train.ema_decay is None
    assert model.horizon == 8 and model.vision.stem == "conv"
    assert isinstance(data, SampleConfig) and data.frame_stride == 2


def test_apply_overrides_errors_name_the_key() -> None:
    tiny = model_config("hy-vla-tiny")
    with pytest.raises(ValueError, match=r"--set lr=abc: expected a number"):
        apply_overrides(tiny, TrainConfig(), parse_overrides(["lr=abc"]))
    with pytest.raises(ValueError, match="(?i)did you mean: lr"):
        apply_overrides(tiny, TrainConfig(), parse_overrides(["lrr=1"]))
    with pytest.raises(ValueError, match="expects key=value"):
        parse_overrides(["lr"])
