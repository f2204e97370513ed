"""Every task of the installed Meta-World has one of our instructions, and the suite lists exactly those tasks."""

from __future__ import annotations

import pytest

pytest.importorskip("metaworld")

from hy_vla.sim import metaworld as mw  # noqa: E402
from hy_vla.sim.metaworld.instructions import INSTRUCTIONS, instruction_for  # noqa: E402


def test_instruction_for_every_installed_task():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    installed = set(ALL_V3_ENVIRONMENTS)
    assert len(installed) == 50
    assert set(INSTRUCTIONS) == installed, sorted(installed ^ set(INSTRUCTIONS))
    assert mw.list_tasks() == sorted(installed)


def test_instructions_are_distinct_lowercase_sentences():
    texts = list(INSTRUCTIONS.values())
    assert len(set(texts)) == len(texts), "two tasks share an instruction"
    for task, text in INSTRUCTIONS.items():
        assert text and text == text.strip() and text[0].islower() and not text.endswith("."), task
        assert "-v3" not in text, task


def test_every_task_has_a_scripted_expert():
    from metaworld.policies import ENV_POLICY_MAP

    assert set(ENV_POLICY_MAP) >= set(INSTRUCTIONS)


def test_unknown_task_errors():
    with pytest.raises(KeyError, match="no instruction"):
        instruction_for("open-the-fridge-v3")
