"""Pretrained transformers backbones: a VLM or LM from a LOCAL directory in place of the MoT.

`HFBackbone` wraps Qwen2.5-VL, Qwen3-VL, SmolVLM, PaliGemma (vision-language) or BERT
(text-only, e.g. the installed all-MiniLM-L6-v2) and speaks the MoT backbone's
interface, so every action decoder attaches unchanged:

- `embed_prefix(frames, camera_embed, texts) -> Prefix`: a VLM reads exactly what its own
  processor would give it (`hy_vla.models.hf_inputs`: chat template, image placeholder and
  marker tokens, the image processor's resizing and normalization); each camera's current frame
  goes through the model's own vision tower + projector, plus our learned camera embedding (zero
  at start, so an untrained model computes what the pretrained VLM computes);
- `forward(x, segments, positions, allowed, **backbone_inputs) -> (final hidden (B, T, D), per-layer KV)`:
  the family's own multimodal forward (`model.model(input_ids, ..., mm_encoder_outputs=...)`), so its
  position ids (Qwen's 3-D M-RoPE via `get_rope_index`, PaliGemma's 1-based ones), attention mask
  (PaliGemma's bidirectional prefix) and Qwen3-VL's deepstack injection are the model's. Decoder LMs
  return their KV cache (keys after rotary, grouped KV heads repeated to the query heads); BERT's
  keys/values are read off its key/value projections. The dual tower / MoT expert attend to the KV,
  the DiT to the hidden states;
- `rope(positions)`: rotary tables with the LM's theta (identity for BERT), for the expert's own
  tokens, which continue after the prefix's largest position (`dual_tower.suffix_positions`).

The HF config is stored in our config (`hf_config`) and the tokenizer, chat template and image
processor travel in the checkpoint (`tokenizer.HFTokenizer`), so a saved Hy-VLA checkpoint rebuilds
the backbone without the original directory; when `path` still exists the pretrained weights are
loaded first (then overwritten by the checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla.models.backbone import BackboneConfig, LayerKV, Segment
from hy_vla.models.dual_tower import Prefix
from hy_vla.models.hf_inputs import QWEN_VL, VLM_FAMILIES, VLMProcessor
from hy_vla.models.layers import rope_cos_sin, split_heads

FAMILIES = ("qwen2_5_vl", "qwen3_vl", "smolvlm", "paligemma", "bert")
_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "smolvlm": "SmolVLMForConditionalGeneration",
    "paligemma": "PaliGemmaForConditionalGeneration",
    "bert": "BertModel",
}
_EXTRA_INPUTS = ("mm_token_type_ids", "token_type_ids")  # the processor outputs the family's forward reads
TEXT = 1  # the one modality index of a dense LM


@dataclass
class HFBackboneConfig:
    family: str = ""  # "" = the native MoT backbone; else one of FAMILIES
    path: str | None = None  # local directory with config.json (+ model.safetensors) to load from
    hf_config: dict[str, Any] = field(default_factory=dict)  # the model's config, stored with the checkpoint

    def __post_init__(self) -> None:
        if self.family and self.family not in FAMILIES:
            raise ValueError(f"hf_backbone.family {self.family!r} not in {FAMILIES}")

    @property
    def enabled(self) -> bool:
        return bool(self.family)

    def architecture_only(self) -> HFBackboneConfig:
        """This backbone without its weights: the directory's config.json when there is one, else the stored
        `hf_config` (a preset's published architecture), and no path to load from."""
        hf_config = self.hf_config
        if self.path is not None and (Path(self.path) / "config.json").is_file():
            hf_config = json.loads((Path(self.path) / "config.json").read_text())
        if not hf_config:
            raise ValueError(f"hf_backbone {self.family!r}: no config.json in {self.path!r} and no stored hf_config")
        return dataclasses.replace(self, path=None, hf_config=hf_config)


def _load_hf(cfg: HFBackboneConfig) -> nn.Module:
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - optional extra
        raise ImportError("a pretrained backbone needs transformers: pip install 'hy-vla[hf]'") from e
    from hy_vla.utils.versions import require

    require("transformers", "a pretrained backbone")  # 4.x would silently give the wrong RoPE base
    cls = getattr(transformers, _CLASSES[cfg.family])
    if cfg.path is not None and (Path(cfg.path) / "config.json").is_file():
        model = cls.from_pretrained(cfg.path, local_files_only=True)
        cfg.hf_config = model.config.to_dict()  # so the saved checkpoint rebuilds it without the directory
        return model
    if not cfg.hf_config:
        raise FileNotFoundError(f"hf_backbone: no config.json in {cfg.path!r} and no stored hf_config")
    config_cls = cls.config_class
    return cls(config_cls.from_dict(cfg.hf_config))


class HFBackbone(nn.Module):
    def __init__(self, cfg: HFBackboneConfig, decoder: str = "dual_tower", tokenizer: Any = None) -> None:
        super().__init__()
        if decoder == "hybrid":
            raise ValueError("decoder 'hybrid' runs inside the native MoT's text towers; use the native backbone")
        self.hf_cfg = cfg
        self.family = cfg.family
        self.model = _load_hf(cfg)
        if hasattr(self.model, "lm_head"):  # unused by every decoder, and often tied to the embedding
            self.model.lm_head = nn.Identity()  # (shared tensors cannot go into one safetensors file)
        # A VLM reads its own tokenizer, chat template and image processor (HyVLAConfig asks for tokenizer='hf');
        # built with a stand-in (`tokenizer.VocabOnly`, counting on the meta device) it has no processor.
        self.processor = None
        if self.family in VLM_FAMILIES and hasattr(tokenizer, "tok"):
            self.processor = VLMProcessor(self.family, tokenizer.tok, tokenizer.image_processor, self.model.config)
        tc = self.model.config.get_text_config()
        heads = tc.num_attention_heads
        head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // heads
        self.num_kv_heads = getattr(tc, "num_key_value_heads", None) or heads
        self.rope_theta = 0.0 if self.family == "bert" else rope_theta(tc)  # BERT: absolute positions, no RoPE
        # The interface numbers the decoders size themselves against (dense: one set of weights).
        self.cfg = BackboneConfig(
            width=tc.hidden_size,
            depth=tc.num_hidden_layers,
            num_heads=heads,
            head_dim=head_dim,
            mlp_hidden=tc.intermediate_size,
            vocab_size=tc.vocab_size,
            dense=True,
        )

    # -- pieces of the wrapped model ------------------------------------------------------------
    @property
    def language_model(self) -> nn.Module:
        if self.family == "bert":
            return self.model
        inner = self.model.model
        return inner.language_model if hasattr(inner, "language_model") else inner.text_model

    @property
    def vision_tower(self) -> nn.Module:
        """The vision encoder (Qwen-VL's includes its patch merger, the projector into the LM)."""
        inner = self.model.model
        return next(getattr(inner, n) for n in ("visual", "vision_model", "vision_tower") if hasattr(inner, n))

    @property
    def projector(self) -> nn.Module | None:
        """The vision-to-LM projector when it sits outside the vision tower (SmolVLM, PaliGemma)."""
        inner = self.model.model
        return next((getattr(inner, n) for n in ("connector", "multi_modal_projector") if hasattr(inner, n)), None)

    @property
    def embed(self) -> nn.Module:
        if self.family == "bert":
            return self.model.embeddings.word_embeddings
        return self.model.get_input_embeddings()

    def rope(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        if self.family == "bert":  # absolute positions inside BERT: the expert's tokens get no rotation
            shape = (positions.shape[0], 1, positions.shape[1], self.cfg.head_dim)
            return torch.ones(shape, device=positions.device), torch.zeros(shape, device=positions.device)
        return rope_cos_sin(positions, self.cfg.head_dim, self.rope_theta)

    @property
    def reads_images(self) -> bool:
        return self.family != "bert"  # BERT is text-only: the cameras are not read

    # -- the prefix -----------------------------------------------------------------------------
    def image_outputs(self, inputs: dict[str, Tensor], camera_embed: Tensor, n_images: int) -> tuple[Any, Tensor]:
        """The vision tower's output for the processor's pixels, with camera c's embedding added to the tokens of
        every image c (images are sample-major) -> (the model's image output, its tokens (N_tok, D) in order)."""
        inner, dtype = self.model.model, self.embed.weight.dtype
        pixels = inputs["pixel_values"].to(camera_embed.device, dtype)
        if self.family in QWEN_VL:
            out = inner.get_image_features(pixels, inputs["image_grid_thw"].to(pixels.device), return_dict=True)
        elif self.family == "smolvlm":
            mask = inputs.get("pixel_attention_mask")
            out = inner.get_image_features(pixels, None if mask is None else mask.to(pixels.device), return_dict=True)
        else:
            out = inner.get_image_features(pixels, return_dict=True)
        pooled = out.pooler_output  # a tuple per image (Qwen-VL) or (images or tiles, P, D)
        flat = torch.cat(list(pooled)) if isinstance(pooled, (list, tuple)) else pooled.reshape(-1, pooled.shape[-1])
        per_image = flat.view(n_images, -1, flat.shape[-1])  # every image of a batch has the same size
        cams = camera_embed.to(flat.dtype).repeat(n_images // camera_embed.shape[0], 1)  # image i: camera i % C
        flat = (per_image + cams.unsqueeze(1)).flatten(0, 1)  # (N_tok, D)
        if isinstance(pooled, (list, tuple)):
            out.pooler_output = tuple(flat.split([p.shape[0] for p in pooled]))
        else:
            out.pooler_output = flat.view_as(pooled)
        return out, flat

    def embed_prefix(self, frames: list[list[Tensor]] | None, camera_embed: Tensor, texts: list[str]) -> Prefix:
        """frames[b] = sample b's current frame per camera, (3, H, W) uint8 or float in [0, 1] (None: no image
        tokens), + camera embeddings (C, D) + instructions -> the Prefix the family's processor would give."""
        if self.processor is None:
            raise RuntimeError(
                f"the {self.family} backbone was built without its tokenizer and image processor (BERT reads text "
                "through embed_text_prefix); point hf_backbone.path at the model directory"
            )
        dev = camera_embed.device
        inputs = self.processor(frames, texts)
        ids, valid = inputs["input_ids"].to(dev), inputs["attention_mask"].to(dev).bool()
        b, t = ids.shape
        x = self.embed(ids.clamp(max=self.embed.num_embeddings - 1))  # (B, T, D); placeholders get the images
        model_inputs = {k: inputs[k].to(dev) for k in ("input_ids", "attention_mask", *_EXTRA_INPUTS) if k in inputs}
        image_out = None
        if frames:
            image_out, feats = self.image_outputs(inputs, camera_embed, b * len(frames[0]))
            x = x.masked_scatter((ids == self.processor.image_token_id).unsqueeze(-1), feats.to(x.dtype))
            if "image_grid_thw" in inputs:
                model_inputs["image_grid_thw"] = inputs["image_grid_thw"].to(dev)
        positions = self.prefix_positions(model_inputs, valid)
        if self.family == "paligemma":  # the prefix-LM mask: the whole prefix (images + prompt) sees itself
            block_ids, bidir = torch.zeros(b, t, dtype=torch.long, device=dev), torch.ones_like(valid)
        else:  # causal, as the LM attends
            block_ids, bidir = torch.arange(t, device=dev).expand(b, -1), torch.zeros_like(valid)
        backbone_inputs = {"model_inputs": model_inputs, "image_outputs": image_out}
        return Prefix(x, [Segment(TEXT, 0, t)], block_ids, bidir, valid, positions, backbone_inputs)

    def prefix_positions(self, model_inputs: dict[str, Tensor], valid: Tensor) -> Tensor:
        """(B, T) each token's position as the family numbers it; for Qwen's M-RoPE the largest of its three
        (temporal, height, width) components, so the expert's tokens continue after the last one."""
        b, t = valid.shape
        if self.family in QWEN_VL and "image_grid_thw" in model_inputs:
            pos, _ = self.model.model.get_rope_index(
                model_inputs["input_ids"],
                mm_token_type_ids=model_inputs["mm_token_type_ids"],
                image_grid_thw=model_inputs["image_grid_thw"],
                attention_mask=model_inputs["attention_mask"],
            )  # (3, B, T)
            return pos.amax(dim=0)
        if self.family == "paligemma":  # PaliGemma numbers positions from 1
            return torch.arange(1, t + 1, device=valid.device).expand(b, -1)
        return (valid.long().cumsum(dim=1) - 1).clamp(min=0)

    def embed_text_prefix(self, ids: Tensor, text_valid: Tensor) -> Prefix:
        """BERT: instruction ids / validity (B, L) -> a text-only Prefix."""
        b, t = ids.shape
        positions = (text_valid.long().cumsum(dim=1) - 1).clamp(min=0)
        block_ids = torch.arange(t, device=ids.device).expand(b, -1)
        bidir = torch.zeros(b, t, dtype=torch.bool, device=ids.device)
        return Prefix(self.embed(ids), [Segment(TEXT, 0, t)], block_ids, bidir, text_valid, positions)

    # -- the language model ---------------------------------------------------------------------
    def run_model(
        self, model_inputs: dict[str, Tensor], image_outputs: Any = None, output_hidden_states: bool = False
    ) -> Any:
        """The family's own multimodal forward on the processor's inputs, the vision tower's output passed in."""
        return self.model.model(
            **model_inputs,
            mm_encoder_outputs=None if image_outputs is None else {"image": image_outputs},
            use_cache=True,
            output_hidden_states=output_hidden_states,
        )

    def forward(
        self,
        x: Tensor,
        segments: list[Segment],
        positions: Tensor,
        allowed: Tensor,
        model_inputs: dict[str, Tensor] | None = None,
        image_outputs: Any = None,
    ) -> tuple[Tensor, list[LayerKV]]:
        """x: (B, T, D) prefix embeddings -> final hidden (B, T, D), per-layer (k, v) each (B, nh, T, hd)."""
        if self.family == "bert":
            return self._bert_forward(x, allowed.any(dim=1))
        if model_inputs is None:
            raise ValueError(f"the {self.family} backbone runs on the inputs its embed_prefix returns")
        out = self.run_model(model_inputs, image_outputs)
        rep = self.cfg.num_heads // self.num_kv_heads
        kv = [
            (layer.keys.repeat_interleave(rep, dim=1), layer.values.repeat_interleave(rep, dim=1))
            for layer in out.past_key_values.layers
        ]
        return out.last_hidden_state, kv

    def _bert_forward(self, x: Tensor, valid: Tensor) -> tuple[Tensor, list[LayerKV]]:
        captured: list[Tensor] = []
        hooks = []
        for layer in self.model.encoder.layer:
            att = layer.attention.self
            for proj in (att.key, att.value):
                hooks.append(proj.register_forward_hook(lambda _m, _i, out: captured.append(out)))
        try:
            hidden = self.model(inputs_embeds=x, attention_mask=valid.long()).last_hidden_state
        finally:
            for h in hooks:
                h.remove()
        nh = self.cfg.num_heads
        kv = [(split_heads(captured[2 * i], nh), split_heads(captured[2 * i + 1], nh)) for i in range(self.cfg.depth)]
        return hidden, kv


def rope_theta(text_config: Any) -> float:
    """The LM's RoPE base: transformers 5 keeps it in `rope_parameters`, 4.x in `rope_theta`."""
    params = getattr(text_config, "rope_parameters", None) or {}
    theta = params.get("rope_theta", getattr(text_config, "rope_theta", None))
    if theta is None:
        raise ValueError(f"{type(text_config).__name__} names no RoPE theta (rope_parameters / rope_theta)")
    return float(theta)
