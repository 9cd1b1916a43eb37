"""The reward model of the capstone: a BERT encoder with the exercise's ``RewardModel`` head, trained on the
collected feedback with the pairwise (Bradley–Terry) loss or, from absolute ratings, the rating loss.

Saved as ``save_pretrained`` of the encoder and its tokenizer, plus the two head layers in
``reward_head.safetensors`` in forward order (``0``: H -> hidden, ``1``: hidden -> 1). The layers are found
by shape, as the grader finds them, so a checkpoint loads into the learner's class and the reference's.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn

from grader.capstone import checkpoints

HEAD_FILE = "reward_head.safetensors"


def head_layers(model: nn.Module) -> list[nn.Linear]:
    """The head's two linear layers in forward order: (H -> hidden, hidden -> 1)."""
    encoder_ids = {id(m) for m in model.encoder.modules()}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in encoder_ids]
    if len(linears) != 2:
        raise ValueError(f"expected a head of two nn.Linear layers, found {len(linears)}")
    return sorted(linears, key=lambda m: m.out_features == 1)


def build(impl, encoder, hidden: int = 64, dropout: float = 0.1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    device = next(encoder.parameters()).device
    return impl.RewardModel(encoder, hidden=hidden, dropout=dropout).to(device)


@torch.no_grad()
def score(model, tokenizer, encode, prompts: list[str], responses: list[str], batch_size: int = 64) -> torch.Tensor:
    """Rewards (N,) in eval mode; ``encode`` is the exercise's sentence-pair tokenisation."""
    device = next(model.parameters()).device
    was_training, out = model.training, []
    model.eval()
    for i in range(0, len(prompts), batch_size):
        enc = encode(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size]).to(device)
        out.append(model(enc["input_ids"], enc["attention_mask"]).float())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def train(impl, model, tokenizer, encode, pairs: list[dict], ratings: list[dict] | None = None, *,
          loss: str = "pairwise", steps: int = 60, batch_size: int = 16, lr: float = 1e-3,
          seed: int = 0) -> list[float]:
    """Train in place; returns the loss of each step.

    pairs: TRL explicit-prompt dicts (``prompt``, ``chosen``, ``rejected``) for ``loss="pairwise"``;
    ratings: dicts with ``prompt``, ``response`` and ``rating`` in [0, 1] for ``loss="rating"``.
    """
    examples = pairs if loss == "pairwise" else ratings
    if not examples:
        raise ValueError(f"no {'preference pairs' if loss == 'pairwise' else 'ratings'} to train the reward model on")
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    rng, order, losses = random.Random(seed), [], []
    model.train()
    for _ in range(steps):
        if len(order) < batch_size:  # a new epoch
            order = list(range(len(examples)))
            rng.shuffle(order)
        batch = [examples[order.pop()] for _ in range(min(batch_size, len(order)))]
        prompts = [ex["prompt"] for ex in batch]
        if loss == "pairwise":
            chosen = encode(tokenizer, prompts, [ex["chosen"] for ex in batch]).to(device)
            rejected = encode(tokenizer, prompts, [ex["rejected"] for ex in batch]).to(device)
            value = impl.pairwise_loss(model(chosen["input_ids"], chosen["attention_mask"]),
                                       model(rejected["input_ids"], rejected["attention_mask"]))
        else:
            enc = encode(tokenizer, prompts, [ex["response"] for ex in batch]).to(device)
            target = torch.tensor([float(ex["rating"]) for ex in batch], device=device)
            value = impl.rating_loss(model(enc["input_ids"], enc["attention_mask"]), target)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    model.eval()
    return losses


def accuracy(impl, model, tokenizer, encode, pairs: list[dict]) -> float:
    """Held-out preference accuracy (ties count as wrong, as in the exercise)."""
    if not pairs:
        return float("nan")
    prompts = [p["prompt"] for p in pairs]
    chosen = score(model, tokenizer, encode, prompts, [p["chosen"] for p in pairs])
    rejected = score(model, tokenizer, encode, prompts, [p["rejected"] for p in pairs])
    return float(impl.preference_accuracy(chosen, rejected))


def save(model, tokenizer, directory: Path, meta: dict) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    first, last = head_layers(model)
    save_file({"0.weight": first.weight, "0.bias": first.bias, "1.weight": last.weight, "1.bias": last.bias},
              str(directory / HEAD_FILE))
    checkpoints.write_meta(directory, meta)


def load(impl, directory: Path, device) -> tuple[nn.Module, object, dict]:
    """(reward model in eval mode, tokenizer, metadata) from ``save``'s directory."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertModel

    meta = checkpoints.read_meta(directory)
    encoder = BertModel.from_pretrained(directory).to(device)
    model = impl.RewardModel(encoder, hidden=meta["hyperparameters"]["rm_hidden"]).to(device)
    weights = load_file(str(directory / HEAD_FILE), device=str(device))
    with torch.no_grad():
        for i, layer in enumerate(head_layers(model)):
            layer.weight.copy_(weights[f"{i}.weight"])
            layer.bias.copy_(weights[f"{i}.bias"])
    return model.eval(), AutoTokenizer.from_pretrained(directory), meta
