"""Pretrained transformers backbones: a VLM or LM from a LOCAL directory in place of the MoT.

`HFBackbone` wraps Qwen2.5-VL, Qwen3-VL, SmolVLM, PaliGemma (vision-language) or BERT
(text-only, e.g. the installed all-MiniLM-L6-v2) and speaks the MoT backbone's
interface, so every action decoder attaches unchanged:

- `embed_prefix(model, batch) -> Prefix`: each camera's current frame through the
  model's own vision tower + projector (+ our learned camera embedding), then the
  instruction's token embeddings; one sequence [cam 1 tokens, ..., text], no
  placeholder ids (the image features are placed directly, so no processor is needed);
- `forward(x, segments, positions, allowed) -> (final hidden (B, T, D), per-layer KV)`:
  runs the language model on those embeddings. Decoder LMs return their KV cache
  (keys after rotary, grouped KV heads repeated to the query heads); BERT's keys/values
  are read off its key/value projections. The dual tower / MoT expert attend to the KV,
  the DiT to the hidden states;
- `rope(positions)`: rotary tables with the LM's theta (identity for BERT), for the
  expert's own tokens.

Deliberate simplifications (documented, not hidden): padding and causality come from the
LM itself (a 2-D attention mask: images are causal inside a decoder LM, as in the
pretrained VLMs); positions are 1-D (for Qwen's M-RoPE this equals text-style RoPE);
the vision start/end marker tokens are left out. Qwen3-VL's deepstack features are
injected. The HF config is stored in our config (`hf_config`), so a saved Hy-VLA
checkpoint rebuilds the backbone without the original directory; when `path` still
exists the pretrained weights are loaded first (then overwritten by the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla.models.backbone import BackboneConfig, LayerKV, Segment
from hy_vla.models.dual_tower import Prefix
from hy_vla.models.layers import rope_cos_sin, split_heads

FAMILIES = ("qwen2_5_vl", "qwen3_vl", "smolvlm", "paligemma", "bert")
_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "smolvlm": "SmolVLMForConditionalGeneration",
    "paligemma": "PaliGemmaForConditionalGeneration",
    "bert": "BertModel",
}
_CLIP_MEAN, _CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
_PIXEL_NORM = {"qwen2_5_vl": (_CLIP_MEAN, _CLIP_STD)}  # the others (SigLIP-style) use mean = std = 0.5
VISION, TEXT = 0, 1


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
    def __init__(self, cfg: HFBackboneConfig, decoder: str = "dual_tower") -> None:
        super().__init__()
        if decoder == "hybrid":
            raise ValueError("decoder 'hybrid' runs inside the native MoT's text towers; use the native backbone")
        self.hf_cfg = cfg
        self.family = cfg.family
        self.model = _load_hf(cfg)
        if hasattr(self.model, "lm_head"):  # unused by every decoder, and often tied to the embedding
            self.model.lm_head = nn.Identity()  # (shared tensors cannot go into one safetensors file)
        tc = self.model.config.get_text_config()
        heads = tc.num_attention_heads
        head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // heads
        self.num_kv_heads = getattr(tc, "num_key_value_heads", None) or heads
        self.rope_theta = float((getattr(tc, "rope_parameters", None) or {}).get("rope_theta", 10000.0))
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
    def embed(self) -> nn.Module:
        if self.family == "bert":
            return self.model.embeddings.word_embeddings
        return self.model.get_input_embeddings()

    def rope(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        if self.family == "bert":  # absolute positions inside BERT: the expert's tokens get no rotation
            shape = (positions.shape[0], 1, positions.shape[1], self.cfg.head_dim)
            return torch.ones(shape, device=positions.device), torch.zeros(shape, device=positions.device)
        return rope_cos_sin(positions, self.cfg.head_dim, self.rope_theta)

    # -- images ---------------------------------------------------------------------------------
    def image_tokens(self, images: Tensor) -> tuple[Tensor, list[Tensor] | None]:
        """images (N, 3, S, S) in [-1, 1] -> features (N, P, D) in the LM's width (+ Qwen3-VL deepstack)."""
        mean, std = _PIXEL_NORM.get(self.family, ((0.5,) * 3, (0.5,) * 3))
        x = ((images.float() + 1.0) / 2.0 - torch.tensor(mean, device=images.device).view(1, 3, 1, 1)) / torch.tensor(
            std, device=images.device
        ).view(1, 3, 1, 1)
        x = x.to(self.embed.weight.dtype)
        inner = self.model.model
        if self.family in ("qwen2_5_vl", "qwen3_vl"):
            pixels, grid = qwen_patchify(x, self.model.config.vision_config)
            out = inner.get_image_features(pixels, grid)
            feats = torch.stack(list(out.pooler_output))  # same size for every image
            deep = None
            if self.family == "qwen3_vl":
                deep = [torch.cat(list(f)) for f in out.deepstack_features]
            return feats, deep
        if self.family == "smolvlm":
            out = inner.get_image_features(x.unsqueeze(1))  # (N, 1 image, 3, S, S)
            return torch.stack([f.view(-1, f.shape[-1]) for f in out.pooler_output]), None
        out = inner.get_image_features(x)  # paligemma
        return out.pooler_output, None

    @property
    def reads_images(self) -> bool:
        return self.family != "bert"  # BERT is text-only: the cameras are not read

    def embed_prefix(self, images: Tensor | None, camera_embed: Tensor, ids: Tensor, text_valid: Tensor) -> Prefix:
        """Images (B, C, 3, S, S) in [-1, 1], the current frame per camera through the HF vision tower (None: no
        image tokens), + camera embeddings (C, D) + instruction ids / validity (B, L) -> Prefix."""
        b, dev = ids.shape[0], ids.device
        parts: list[Tensor] = []
        self._deepstack = None
        if images is not None:
            n_cam = images.shape[1]
            feats, deep = self.image_tokens(images.flatten(0, 1))  # (B * C, P, D)
            feats = feats.view(b, n_cam, -1, feats.shape[-1]) + camera_embed.view(1, n_cam, 1, -1).to(feats)
            parts.append(feats.flatten(1, 2))
            self._deepstack = deep
        parts.append(self.embed(ids))
        x = torch.cat(parts, dim=1)
        nv, nt = x.shape[1] - ids.shape[1], ids.shape[1]
        valid = torch.cat([torch.ones(b, nv, dtype=torch.bool, device=dev), text_valid], dim=1)
        positions = (valid.long().cumsum(dim=1) - 1).clamp(min=0)
        block_ids = torch.arange(nv + nt, device=dev).expand(b, -1)  # causal: the LM's own attention pattern
        bidir = torch.zeros(b, nv + nt, dtype=torch.bool, device=dev)
        segments = [Segment(VISION, 0, nv), Segment(TEXT, nv, nv + nt)] if nv else [Segment(TEXT, 0, nt)]
        return Prefix(x, segments, block_ids, bidir, valid, positions)

    # -- the language model ---------------------------------------------------------------------
    def forward(
        self, x: Tensor, segments: list[Segment], positions: Tensor, allowed: Tensor
    ) -> tuple[Tensor, list[LayerKV]]:
        """x: (B, T, D) prefix embeddings -> final hidden (B, T, D), per-layer (k, v) each (B, nh, T, hd)."""
        valid = allowed.any(dim=1)  # (B, T): keys someone may see are the non-padding ones
        if self.family == "bert":
            return self._bert_forward(x, valid)
        kwargs: dict[str, Any] = {}
        if self.family == "qwen3_vl" and self._deepstack is not None:
            vis = torch.zeros_like(valid)
            vis[:, : segments[0].end] = segments[0].modality == VISION
            kwargs = {"visual_pos_masks": vis, "deepstack_visual_embeds": self._deepstack}
        out = self.language_model(
            inputs_embeds=x, attention_mask=valid.long(), position_ids=positions, use_cache=True, **kwargs
        )
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


def qwen_patchify(images: Tensor, vcfg: Any) -> tuple[Tensor, Tensor]:
    """Qwen2-VL-style vision input: (N, 3, S, S) -> flattened patches (N * gh * gw, 3 * tp * p * p), grid (N, 3).

    One still frame is repeated `temporal_patch_size` times; patches are ordered so that each
    `spatial_merge_size`^2 group (merged into one LM token by the vision tower) is contiguous.
    """
    n, c, h, w = images.shape
    p, tp, m = vcfg.patch_size, vcfg.temporal_patch_size, vcfg.spatial_merge_size
    if h % (p * m) or w % (p * m):
        raise ValueError(f"image size {h}x{w} must be a multiple of patch_size*spatial_merge_size={p * m}")
    gh, gw = h // p, w // p
    x = images.unsqueeze(1).expand(n, tp, c, h, w)  # (N, tp, C, H, W)
    x = x.reshape(n, tp, c, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (N, gh/m, gw/m, m, m, C, tp, p, p)
    pixels = x.reshape(n * gh * gw, c * tp * p * p)
    grid = torch.tensor([[1, gh, gw]] * n, device=images.device)
    return pixels, grid
