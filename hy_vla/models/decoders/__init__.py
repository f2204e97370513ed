"""Action decoders, chosen by `HyVLAConfig.decoder` (one interface, see `common.py`).

- "dual_tower" (default, Hy-VLA): `dual_tower.DualTowerDecoder`, a narrower expert tower
  (`hy_vla.models.action_expert`) attending to the backbone's per-layer keys/values;
- "mot_expert" (Being-H0.5): state/action tokens as a third MoT modality at full width,
  with optional Mixture-of-Flow (`config.mof`) and MPG (`config.mpg`);
- "dit" (Qwen-VLA): DiT with cross-attention to the backbone's final hidden states (`config.dit`);
- "hybrid" (HybridVLA): flow tokens and autoregressive action tokens inside the LM (`config.hybrid`).

`registry.build_decoder` builds the chosen one; `hy_vla.models.config` imports the config dataclasses.
"""

from __future__ import annotations

DECODERS = ("dual_tower", "mot_expert", "dit", "hybrid")
