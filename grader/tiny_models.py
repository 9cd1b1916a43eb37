"""Tiny GPT-2 and BERT models, built offline from configs and a corpus shipped with the course.

``load_gpt2()`` / ``load_bert()`` return ``(model, tokenizer, device)`` in one line. With the default
name ``"tiny"`` the model is built once (tokenizer trained on ``grader/data/corpus.txt``, weights drawn
from a seeded generator), saved under the cache directory, and loaded from there with the standard
``from_pretrained(local_dir)``. Any other name or path (``"gpt2"``, ``"bert-base-uncased"``, a local
directory) goes straight to ``from_pretrained`` for learners who have real weights.

The build is deterministic: the same seed gives byte-identical weights, configs and tokenizer files in
any process. That is what lets graders store reference outputs computed on these models.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from grader.devices import pick_device, prepare
from grader.model_cache import (BERT_SIZES, CACHE_ENV, CORPUS, DATA_DIR, GPT2_SIZES,  # noqa: F401
                                 cache_dir, recipe_key, save_atomically)

GPT2_SPECIAL = "<|endoftext|>"
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

class Loaded(NamedTuple):
    model: torch.nn.Module
    tokenizer: object
    device: torch.device


def tiny_model_dir(kind: str, seed: int = 0) -> Path:
    """The directory holding the tiny ``kind`` ("gpt2" or "bert") model; built on first use."""
    if kind not in ("gpt2", "bert"):
        raise ValueError(f"kind must be 'gpt2' or 'bert', not {kind!r}")
    target = cache_dir() / recipe_key(kind, seed)
    if not (target / "config.json").exists():
        _build(kind, seed, target)
    return target


def _build(kind: str, seed: int, target: Path) -> None:
    def write(folder: Path) -> None:
        model, tokenizer = _build_gpt2(seed) if kind == "gpt2" else _build_bert(seed)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    save_atomically(target, write)


def _corpus_lines() -> list[str]:
    return [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _seeded_init(model: torch.nn.Module, seed: int) -> None:
    """Draw every parameter from one seeded CPU generator, in name order.

    transformers' own init depends on its version and module order; this depends only on torch's
    CPU generator, so weights are the same wherever the course runs.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "norm" in name.lower() or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def _build_gpt2(seed: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=GPT2_SIZES["vocab_size"], special_tokens=[GPT2_SPECIAL], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus_lines(), trainer)
    # GPT-2 has no pad token; padding with EOS (masked by attention_mask) is the usual convention.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=GPT2_SPECIAL, eos_token=GPT2_SPECIAL, unk_token=GPT2_SPECIAL,
        pad_token=GPT2_SPECIAL, model_max_length=GPT2_SIZES["n_positions"],
    )
    eos = tokenizer.eos_token_id
    # No dropout: RLHF trainers turn it off so that policy and reference log-probs are comparable.
    config = GPT2Config(**{**GPT2_SIZES, "vocab_size": tok.get_vocab_size()}, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos)
    model = GPT2LMHeadModel(config)
    _seeded_init(model, seed)
    model.generation_config.pad_token_id = eos
    return model, tokenizer


def _build_bert(seed: int):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizer

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=BERT_SIZES["vocab_size"], special_tokens=BERT_SPECIALS,
                                        show_progress=False)
    tok.train_from_iterator(_corpus_lines(), trainer)
    # WordPieceTrainer hands out ids in hash order, which changes between processes.
    # Re-number the learned vocabulary canonically: specials, then whole-word pieces, then "##" pieces.
    learned = sorted(set(tok.get_vocab()) - set(BERT_SPECIALS), key=lambda t: (t.startswith("##"), t))
    vocab = {token: i for i, token in enumerate(BERT_SPECIALS + learned)}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True,
                              model_max_length=BERT_SIZES["max_position_embeddings"])
    config = BertConfig(**{**BERT_SIZES, "vocab_size": len(tokenizer)}, pad_token_id=tokenizer.pad_token_id)
    model = BertModel(config)
    _seeded_init(model, seed)
    return model, tokenizer


def _load(kind: str, name: str, device, seed: int) -> Loaded:
    from transformers import AutoTokenizer, BertModel, GPT2LMHeadModel

    from transformers.utils import logging as hf_logging

    source = str(tiny_model_dir(kind, seed)) if name == "tiny" else name
    model_cls = GPT2LMHeadModel if kind == "gpt2" else BertModel
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per load would drown the graders' output
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = model_cls.from_pretrained(source)
    except OSError as err:
        raise OSError(
            f"could not load {name!r}: {err}\nThe course works offline with the tiny models "
            f"(name='tiny'); real weights need a local directory or a Hugging Face cache that has them."
        ) from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if kind == "gpt2" and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        model.generation_config.pad_token_id = tokenizer.eos_token_id
    dev = pick_device(device).device if device is None or isinstance(device, str) else torch.device(device)
    prepare(dev)
    return Loaded(model.to(dev).eval(), tokenizer, dev)


def load_gpt2(name: str = "tiny", device: str | torch.device | None = None, seed: int = 0) -> Loaded:
    """A causal LM (``GPT2LMHeadModel``), its tokenizer and the device it sits on, in eval mode.

    ``name``: "tiny" (built locally), a hub name such as "gpt2", or a local directory.
    """
    return _load("gpt2", name, device, seed)


def load_bert(name: str = "tiny", device: str | torch.device | None = None, seed: int = 0) -> Loaded:
    """An encoder (``BertModel``), its tokenizer and the device it sits on, in eval mode.

    ``name``: "tiny" (built locally), a hub name such as "bert-base-uncased", or a local directory.
    """
    return _load("bert", name, device, seed)
