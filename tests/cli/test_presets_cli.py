"""`hy-vla presets`: every preset with its parameter count, VLM presets counted on the meta device without files."""

from hy_vla.cli.main import main


def test_presets_lists_the_vlm_presets_with_their_counts(capsys):
    assert main(["presets"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    params = {name: float(row[1].rstrip("M")) for name, row in rows.items()}
    # published VLM (less an LM head no decoder reads) + the action expert
    assert 4100 < params["hy-vla-qwen25vl-3b"] < 4400 and 2400 < params["qwen-vla-qwen3vl-2b"] < 2600
    assert 600 < params["smolvlm-500m-expert"] < 750 and 3200 < params["paligemma-3b-expert"] < 3400
    assert all(params[f"{n}-tiny"] < 20 for n in ("hy-vla-qwen25vl", "qwen-vla-qwen3vl", "smolvlm-expert"))
    assert params["paligemma-expert-tiny"] < 20


def test_presets_name_prints_every_setting_of_a_vlm_preset(capsys):
    assert main(["presets", "--name", "hy-vla-qwen25vl-3b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'model.hf_backbone.family="qwen2_5_vl"' in lines and "model.hf_backbone.path=null" in lines
    assert "model.hf_backbone.hf_config.text_config.num_hidden_layers=36" in lines
    assert 'model.tokenizer="hf"' in lines and "lr=2.5e-05" in lines
