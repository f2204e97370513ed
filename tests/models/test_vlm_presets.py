"""Presets of published VLMs + an action expert: full size on the meta device, and running from a model directory."""

import json
import shutil

import pytest
import torch
from model_fixtures import micro_batch

from hy_vla import HyVLA, HyVLAConfig
from hy_vla.models import vlm_configs
from hy_vla.presets import get_preset
from hy_vla.training.parameters import apply_freeze
from hy_vla.training.run_config import apply_overrides

transformers = pytest.importorskip("transformers")
from models.tiny_vlms import save_tiny_vlm  # noqa: E402

FULL = {"hy-vla-qwen25vl-3b": "qwen2_5_vl", "qwen-vla-qwen3vl-2b": "qwen3_vl", "smolvlm-500m-expert": "smolvlm",
        "paligemma-3b-expert": "paligemma"}  # fmt: skip
TINY = {"hy-vla-qwen25vl-tiny": "qwen2_5_vl", "qwen-vla-qwen3vl-tiny": "qwen3_vl", "smolvlm-expert-tiny": "smolvlm",
        "paligemma-expert-tiny": "paligemma"}  # fmt: skip
# The published models: (LM layers, width, query heads, head size) and parameters without the LM head (the action
# decoders never read logits; SmolVLM's untied 47M head is dropped, the others' is the tied embedding).
PUBLISHED = {
    "hy-vla-qwen25vl-3b": ((36, 2048, 16, 128), 3.755e9),
    "qwen-vla-qwen3vl-2b": ((28, 2048, 16, 128), 2.128e9),
    "smolvlm-500m-expert": ((32, 960, 15, 64), 0.460e9),
    "paligemma-3b-expert": ((18, 2048, 8, 256), 2.923e9),
}


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    out = {}
    for family in sorted(set(FULL.values())):
        torch.manual_seed(0)
        out[family] = save_tiny_vlm(family, root / family)
    return out


def _pointed_at(name: str, directory, **more: str) -> HyVLAConfig:
    """The preset as `hy-vla train --preset NAME --set model.hf_backbone.path=DIR` resolves it."""
    overrides = {"model.hf_backbone.path": str(directory), **more}
    model, _, _ = apply_overrides(get_preset(name).model(), get_preset(name).train(), overrides)
    return model


@pytest.mark.parametrize("name", FULL)
def test_full_size_preset_is_the_published_model_on_meta(name):
    cfg = get_preset(name).model()
    assert HyVLAConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.hf_backbone.family == FULL[name] and cfg.hf_backbone.path is None and cfg.tokenizer == "hf"
    model = HyVLA.on_meta(cfg)
    bb = model.backbone.cfg
    shape, n_published = PUBLISHED[name]
    assert (bb.depth, bb.width, bb.num_heads, bb.head_dim) == shape
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert abs(n_backbone - n_published) < 0.005 * n_published
    assert all(p.is_meta for p in model.parameters())
    assert 0.15e9 < sum(p.numel() for p in model.expert.parameters()) < 0.5e9


def test_a_vlm_preset_without_its_directory_says_where_to_point_it():
    with pytest.raises(ValueError, match="hf_backbone.path"):
        HyVLA(get_preset("paligemma-3b-expert").model())


def test_each_preset_has_its_own_copy_of_the_published_config():
    a, b = get_preset("hy-vla-qwen25vl-3b").model(), get_preset("hy-vla-qwen25vl-3b").model()
    a.hf_backbone.hf_config["text_config"]["num_hidden_layers"] = 1
    assert b.hf_backbone.hf_config["text_config"]["num_hidden_layers"] == 36
    assert vlm_configs.QWEN25VL_3B["text_config"]["num_hidden_layers"] == 36


@pytest.mark.parametrize("name", FULL)
def test_full_size_preset_pointed_at_a_directory_loads_its_weights_and_runs(name, hf_dirs):
    family = FULL[name]
    # The DiT is sized on its own (16 blocks of 1024, ~380M): two blocks keep this a CPU test.
    more = {"model.dit.depth": "2"} if get_preset(name).model().decoder == "dit" else {}
    cfg = _pointed_at(name, hf_dirs[family], **more)
    model = HyVLA(cfg)
    assert model.backbone.cfg.depth == 2  # the directory's config.json replaced the published architecture
    assert model.config.hf_backbone.hf_config["text_config"]["hidden_size"] == 64
    ref = getattr(transformers, model.backbone.model.__class__.__name__).from_pretrained(hf_dirs[family])
    assert torch.equal(model.backbone.embed.weight, ref.get_input_embeddings().weight)  # the directory's weights
    batch = micro_batch(cfg)
    loss, _ = model.compute_loss(batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in model.expert.parameters())
    model.eval()
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    a = model.sample_actions(micro_batch(cfg, with_action=False), noise=noise)
    assert a.shape == (2, cfg.horizon, cfg.max_action_dim) and torch.isfinite(a).all()


@pytest.mark.parametrize("name", TINY)
def test_tiny_preset_trains_samples_and_reloads_without_the_directory(name, hf_dirs, tmp_path):
    cfg = get_preset(name).model()
    assert HyVLAConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert HyVLA.on_meta(cfg).num_parameters() < 20e6  # the tiny random architecture, counted without files
    src = shutil.copytree(hf_dirs[TINY[name]], tmp_path / "weights")
    cfg = _pointed_at(name, src)
    model = HyVLA(cfg)
    frozen = apply_freeze(model, get_preset(name).train())
    loss, _ = model.compute_loss(micro_batch(cfg))
    loss.backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained and any(n.startswith("expert.") for n in trained)
    if name == "smolvlm-expert-tiny":  # SmolVLA's freezing: only the expert learns
        assert frozen == ["vision", "projector", "backbone"] and all(n.startswith("expert.") for n in trained)
    else:
        assert not frozen and any(n.startswith("backbone.") for n in trained)
    model.eval()
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    out = model.save_pretrained(tmp_path / name)
    shutil.rmtree(src)  # the checkpoint carries the architecture, tokenizer and image processor
    loaded = HyVLA.from_pretrained(out).eval()
    assert torch.equal(a, loaded.sample_actions(batch, noise=noise))


def test_on_meta_counts_a_directory_from_its_config_alone(hf_dirs, tmp_path):
    """Pointed at a directory, the count follows its config.json; no weights or tokenizer files are read."""
    directory = tmp_path / "config_only"
    directory.mkdir()
    (directory / "config.json").write_text((hf_dirs["paligemma"] / "config.json").read_text())
    cfg = _pointed_at("paligemma-3b-expert", directory)
    model = HyVLA.on_meta(cfg)
    assert model.backbone.cfg.depth == 2 and all(p.is_meta for p in model.parameters())
    with pytest.raises(RuntimeError, match="without its tokenizer"):
        model.backbone.embed_prefix(None, model.camera_embed, ["pick up the red cube"])


def test_tiny_keeps_the_family_structure_and_leaves_the_published_config_alone():
    before = json.dumps(vlm_configs.QWEN3VL_2B, sort_keys=True)
    small = vlm_configs.tiny(vlm_configs.QWEN3VL_2B)
    assert json.dumps(vlm_configs.QWEN3VL_2B, sort_keys=True) == before
    rope = small["text_config"]["rope_parameters"]
    assert sum(rope["mrope_section"]) * 2 == small["text_config"]["head_dim"]  # M-RoPE covers the head
    assert rope["mrope_interleaved"] and rope["rope_theta"] == 5e6  # merged into, not replaced
    assert small["image_token_id"] == vlm_configs.QWEN3VL_2B["image_token_id"]
    with pytest.raises(ValueError, match="no tiny variant"):
        vlm_configs.tiny({"model_type": "llava"})
