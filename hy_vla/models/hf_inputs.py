"""The input each VLM family's own processor builds: chat template, image placeholder tokens, pixel values.

A pretrained VLM only behaves as trained when it reads what its processor produces. For each family this
module lays out the same tokens from the model directory's own files (tokenizer + chat template + image
processor), following the family's processor:

- Qwen2.5-VL / Qwen3-VL: the chat template writes `<|vision_start|><|image_pad|><|vision_end|>` per image;
  each `<|image_pad|>` becomes grid_t * grid_h * grid_w / merge^2 copies; `mm_token_type_ids` is 1 on them
  (the model's `get_rope_index` reads it for the 3-D M-RoPE positions);
- SmolVLM: the chat template writes `<image>` per image; each becomes the global image block
  `<fake_token_around_image><global-img><image>*n<fake_token_around_image>`, after one
  `<fake_token_around_image><row_i_col_j><image>*n` block per tile when the image processor splits it;
- PaliGemma (no chat template): `<image>`*n per image, then BOS, the prompt and "\\n"; `token_type_ids` are 0
  on that whole prefix, which the model attends to bidirectionally.

Why not call the processor classes themselves: without torchvision transformers cannot build the Qwen-VL and
SmolVLM processors (their video processors need it). The tests check this layout token for token against the
family's processor and the prefix hidden states against the family's model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

QWEN_VL = ("qwen2_5_vl", "qwen3_vl")
VLM_FAMILIES = (*QWEN_VL, "smolvlm", "paligemma")


def to_uint8(frame: Tensor) -> Tensor:
    """(3, H, W) uint8 in [0, 255] or float in [0, 1] -> uint8 on the CPU (what image processors take)."""
    if frame.dtype != torch.uint8:
        frame = (frame.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return frame.cpu()


class VLMProcessor:
    """Images + instructions -> the family's model inputs (input_ids, attention_mask, pixel values, ...)."""

    def __init__(self, family: str, tokenizer: Any, image_processor: Any, model_config: Any) -> None:
        if family not in VLM_FAMILIES:
            raise ValueError(f"VLMProcessor: family {family!r} not in {VLM_FAMILIES}")
        if image_processor is None:
            raise ValueError(f"a {family} backbone needs its image processor (preprocessor_config.json)")
        if family != "paligemma" and not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"a {family} backbone needs its chat template (chat_template.json / .jinja)")
        self.family, self.tok, self.image_processor, self.config = family, tokenizer, image_processor, model_config
        self.image_token_id = int(model_config.image_token_id)
        self.image_token = tokenizer.convert_ids_to_tokens(self.image_token_id)

    def prompt(self, text: str, num_images: int) -> str:
        """One sample's text before image-token expansion: the chat template's user turn (or PaliGemma's form)."""
        if self.family == "paligemma":
            return self.image_token * num_images + (self.tok.bos_token or "") + text + "\n"
        content = [{"type": "image"} for _ in range(num_images)] + [{"type": "text", "text": text}]
        return self.tok.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )

    def image_block(self, image_inputs: dict[str, Any], i: int) -> str:
        """What the processor writes in place of image `i`'s single placeholder token."""
        if self.family in QWEN_VL:
            merge = self.image_processor.merge_size
            return self.image_token * int(image_inputs["image_grid_thw"][i].prod() // merge**2)
        if self.family == "paligemma":
            return self.image_token * int(self.config.text_config.num_image_tokens)
        vc = self.config.vision_config  # smolvlm: tokens per tile after the pixel shuffle
        n = (vc.image_size // vc.patch_size) ** 2 // self.config.scale_factor**2
        rows = [r for per_sample in image_inputs["rows"] for r in per_sample][i]
        cols = [c for per_sample in image_inputs["cols"] for c in per_sample][i]
        fake, glob = "<fake_token_around_image>", "<global-img>"
        tiles = "".join(
            "".join(f"{fake}<row_{r + 1}_col_{c + 1}>" + self.image_token * n for c in range(cols)) + "\n"
            for r in range(rows)
        )
        return (tiles + "\n" if rows or cols else "") + fake + glob + self.image_token * n + fake

    def __call__(self, images: list[list[Tensor]] | None, texts: list[str]) -> dict[str, Tensor]:
        """images[b] = sample b's frames (3, H, W), or None (text only) -> the model's keyword inputs."""
        n_img = len(images[0]) if images else 0
        prompts = [self.prompt(t, n_img) for t in texts]
        out: dict[str, Any] = {}
        if images:
            flat = [to_uint8(f) for per_sample in images for f in per_sample]
            kwargs = {"return_row_col_info": True} if self.family == "smolvlm" else {}
            nested = [flat[i : i + n_img] for i in range(0, len(flat), n_img)] if self.family == "smolvlm" else flat
            image_inputs = dict(self.image_processor(nested, return_tensors="pt", **kwargs))
            k = 0
            for b, p in enumerate(prompts):  # each placeholder, in order, becomes its image's block
                parts = p.split(self.image_token)
                if len(parts) != n_img + 1:
                    raise ValueError(f"the {self.family} prompt holds {len(parts) - 1} image tokens, not {n_img}")
                blocks = [self.image_block(image_inputs, k + j) for j in range(n_img)]
                prompts[b] = parts[0] + "".join(blk + rest for blk, rest in zip(blocks, parts[1:], strict=True))
                k += n_img
            out.update({key: v for key, v in image_inputs.items() if key not in ("rows", "cols")})
        special = self.family != "paligemma"  # PaliGemma's BOS is in the string already
        enc = self.tok(prompts, padding=True, padding_side="right", return_tensors="pt", add_special_tokens=special)
        out["input_ids"], out["attention_mask"] = enc["input_ids"], enc["attention_mask"]
        if self.family in QWEN_VL:
            out["mm_token_type_ids"] = (enc["input_ids"] == self.image_token_id).long()
        if self.family == "paligemma":
            out["token_type_ids"] = torch.zeros_like(enc["input_ids"])
        return out
