"""The embodiment prompt (Qwen-VLA style): tell the language model which robot it drives.

With many robots sharing one action space, the backbone must know which body,
how many arms, how fast the actions are played back and how many it must
produce; the prompt states all four before the instruction.
"""

from __future__ import annotations

from hy_vla.embodiments.embodiment import Embodiment

_ARMS = {0: "", 1: " (single arm)", 2: " (dual arms)"}


def render_prompt(robot: str, num_arms: int, fps: float, horizon: int, instruction: str) -> str:
    """Prompt text from its parts (`fps` printed without trailing zeros: 50.0 -> "50")."""
    if num_arms not in _ARMS:
        raise ValueError(f"num_arms: expected 0, 1 or 2, got {num_arms}")
    if horizon < 1:
        raise ValueError(f"horizon: expected >= 1, got {horizon}")
    if fps <= 0:
        raise ValueError(f"fps: expected > 0, got {fps}")
    instruction = instruction.strip()
    if not instruction:
        raise ValueError("instruction: expected a non-empty task description")
    return (
        f"The robot is {robot}{_ARMS[num_arms]}. Its control rate is {fps:g} Hz. "
        f"Predict its next {horizon} control actions for the task: {instruction}"
    )


def embodiment_prompt(embodiment: Embodiment, instruction: str, horizon: int) -> str:
    """Prompt for `embodiment` doing `instruction`, asking for `horizon` actions."""
    return render_prompt(embodiment.robot, embodiment.num_arms, embodiment.fps, horizon, instruction)
