"""A checkpoint directory is untrusted input: its config.json is checked before anything is allocated or run."""

from __future__ import annotations

import json

import pytest
from model_fixtures import micro_config

from hy_vla import HyVLA
from hy_vla.cli.main import main


def _saved(tmp_path):
    return HyVLA(micro_config()).save_pretrained(tmp_path / "ckpt")


def _edit(ckpt, **changes):
    cfg = json.loads((ckpt / "config.json").read_text())
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    (ckpt / "config.json").write_text(json.dumps(cfg))


def test_inflated_sizes_are_refused_before_allocation(tmp_path):
    """Regression: inflated sizes made the loader allocate until the kernel killed it."""
    ckpt = _saved(tmp_path)
    _edit(ckpt, backbone__mlp_hidden=10**9, backbone__width=4096)
    with pytest.raises(ValueError, match="B parameters .* more than this machine's"):
        HyVLA.from_pretrained(ckpt)


def test_truncated_weights_are_a_one_line_error_naming_the_file(tmp_path, capsys):
    """Regression: `hy-vla serve` on a truncated model.safetensors printed a raw safetensors traceback."""
    ckpt = _saved(tmp_path)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["serve", "--checkpoint", str(ckpt), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{weights}: unreadable safetensors file" in err, err


@pytest.mark.parametrize(("field", "value", "expected"), [("horizon", "abc", "expected int"),
                                                         ("backbone__qk_norm", "yes", "expected bool"),
                                                         ("camera_names", 3, "expected tuple")])  # fmt: skip
def test_values_of_the_wrong_type_are_one_line_errors(tmp_path, capsys, field, value, expected):
    """Regression: bad values in config.json escaped as tracebacks."""
    ckpt = _saved(tmp_path)
    _edit(ckpt, **{field: value})
    with pytest.raises(ValueError, match=expected):
        HyVLA.from_pretrained(ckpt)
    assert main(["serve", "--checkpoint", str(ckpt), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
