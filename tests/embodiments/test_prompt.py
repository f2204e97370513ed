import pytest

from hy_vla.embodiments.prompt import embodiment_prompt, render_prompt
from hy_vla.embodiments.registry import get_embodiment


def test_prompt_states_robot_arms_fps_horizon_and_instruction():
    text = embodiment_prompt(get_embodiment("aloha_bimanual"), "  transfer the cube  ", horizon=50)
    assert "ViperX" in text
    assert "dual arms" in text
    assert "50 Hz" in text
    assert "next 50 control actions" in text
    assert text.endswith("transfer the cube")


def test_prompt_formats_fps_and_arm_count():
    assert "12.5 Hz" in render_prompt("a bot", 1, 12.5, 8, "wave")
    assert "single arm" in render_prompt("a bot", 1, 10.0, 8, "wave")
    pusher = embodiment_prompt(get_embodiment("pusht"), "push the T", horizon=16)
    assert "arm" not in pusher and "10 Hz" in pusher and "next 16" in pusher


@pytest.mark.parametrize(
    "args", [("a bot", 3, 10.0, 8, "x"), ("a bot", 1, 0.0, 8, "x"), ("a bot", 1, 10.0, 0, "x"), ("a", 1, 10.0, 8, " ")]
)
def test_prompt_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        render_prompt(*args)
