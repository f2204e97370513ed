"""The one policy interface shared by the evaluator, the server and the async runtime.

A raw observation is a flat dict (openpi style):

- ``"observation.images.<camera>"``: ``uint8`` array ``(H, W, 3)`` (HWC, RGB);
- ``"observation.state"``: ``float32`` array ``(S,)`` in robot units;
- ``"prompt"``: the instruction (``str``).

``infer`` returns ``{"actions": float32 (horizon, action_dim)}`` in robot units
(absolute commands the environment can execute, in order). Extra keys (timings,
debug values) are allowed. ``reset`` starts a new episode (clears frame history).
Anything with these two methods can be evaluated by the harness: a checkpoint
wrapper, a scripted expert, a remote server client, or another library's policy.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

PROMPT_KEY = "prompt"
ACTIONS_KEY = "actions"


@runtime_checkable
class PolicyLike(Protocol):
    def infer(self, obs: dict[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...
