"""Instruction tokenizers: a built-in byte-level one, or any transformers tokenizer in a local directory.

A transformers model directory may also hold an image processor and a chat template (a VLM's processor
files): `HFTokenizer` loads and saves them with the tokenizer, so a checkpoint carries everything a
pretrained VLM backbone needs to lay out its input (`hy_vla.models.hf_inputs`).

Both return right-padded id tensors plus a validity mask; positions inside the model
count only valid tokens, so the amount of padding never changes the output.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor


class Tokenizer(Protocol):
    vocab_size: int

    def encode_batch(self, texts: list[str], max_len: int) -> tuple[Tensor, Tensor]: ...

    def save(self, directory: Path) -> None: ...


class ByteTokenizer:
    """UTF-8 bytes shifted by 3: 0 = pad, 1 = begin, 2 = end. Needs no files, never unknown tokens."""

    PAD, BOS, EOS, OFFSET = 0, 1, 2, 3
    vocab_size = 256 + OFFSET

    def encode(self, text: str) -> list[int]:
        return [self.BOS, *(b + self.OFFSET for b in text.encode("utf-8")), self.EOS]

    def decode(self, ids: list[int]) -> str:
        return bytes(i - self.OFFSET for i in ids if i >= self.OFFSET).decode("utf-8", errors="replace")

    def encode_batch(self, texts: list[str], max_len: int) -> tuple[Tensor, Tensor]:
        return _pad([self.encode(t) for t in texts], max_len, self.PAD)

    def save(self, directory: Path) -> None:
        """Nothing to save: the byte tokenizer is defined by code."""


class VocabOnly:
    """A stand-in for a tokenizer whose files are not at hand: builds a model to count or shape it (on the meta
    device) and cannot encode. A VLM backbone built with it has no processor, so its prefix cannot be computed."""

    vocab_size = 0  # unknown: no id is checked against the backbone's vocabulary

    def encode_batch(self, texts: list[str], max_len: int) -> tuple[Tensor, Tensor]:
        raise RuntimeError("this model was built without its tokenizer files (for counting); it cannot read text")

    def save(self, directory: Path) -> None:
        raise RuntimeError("this model was built without its tokenizer files (for counting); nothing to save")


class HFTokenizer:
    """A transformers tokenizer loaded from a local directory (never from a hub)."""

    def __init__(self, directory: str | Path) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as e:  # pragma: no cover - depends on the optional extra
            raise ImportError("a pretrained tokenizer needs transformers: pip install 'hy-vla[hf]'") from e
        path = Path(directory)
        if not path.is_dir():
            raise FileNotFoundError(f"tokenizer directory {path} does not exist")
        try:  # never run (or prompt about) code shipped in the directory
            self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        except ValueError as e:
            raise ValueError(f"tokenizer in {path}: {e}") from None
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        self.vocab_size = len(self.tok)
        if not getattr(self.tok, "chat_template", None):  # a VLM's template may sit with its processor's files
            self.tok.chat_template = _processor_chat_template(path)
        self.image_processor = None
        if (path / "preprocessor_config.json").is_file():
            from transformers import AutoImageProcessor

            self.image_processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)

    def encode_batch(self, texts: list[str], max_len: int) -> tuple[Tensor, Tensor]:
        return _pad([self.tok(t)["input_ids"] for t in texts], max_len, self.pad_id)

    def save(self, directory: Path) -> None:
        self.tok.save_pretrained(str(directory))
        if self.image_processor is not None:
            self.image_processor.save_pretrained(str(directory))


def _processor_chat_template(directory: Path) -> str | None:
    """The chat template a processor saved next to the tokenizer (chat_template.jinja or .json), if any."""
    import json

    if (directory / "chat_template.jinja").is_file():
        return (directory / "chat_template.jinja").read_text()
    if (directory / "chat_template.json").is_file():
        return json.loads((directory / "chat_template.json").read_text()).get("chat_template")
    return None


def _pad(seqs: list[list[int]], max_len: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad to the longest sequence (at most max_len) -> ids (B, L) long, valid (B, L) bool."""
    if any(len(s) > max_len for s in seqs):
        # The warnings module's default filter already shows this once per call site; a private "warned"
        # flag on top made the warning vanish for every later caller in the process (and for tests).
        warnings.warn(f"instruction longer than max_text_len={max_len} tokens was truncated", stacklevel=3)
    seqs = [s[:max_len] for s in seqs]
    length = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    valid = torch.zeros((len(seqs), length), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        valid[i, : len(s)] = True
    return ids, valid


def load_tokenizer(kind: str, directory: str | Path | None) -> Tokenizer:
    """kind 'byte' -> ByteTokenizer; kind 'hf' -> HFTokenizer(directory)."""
    if kind == "byte":
        return ByteTokenizer()
    if kind == "hf":
        if directory is None:
            raise ValueError("tokenizer 'hf' needs a local directory (config.tokenizer_path or the checkpoint dir)")
        return HFTokenizer(directory)
    raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'byte' or 'hf'")
