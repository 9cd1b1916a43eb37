"""Checkpoints: ``save_pretrained`` folders with a ``capstone.json`` beside the weights.

A policy checkpoint holds the policy and its tokenizer (loadable by any ``from_pretrained``), the PPO value
head (``value_head.safetensors``) and the optimizer state (``optimizer.pt``), so that training continues
where it stopped. ``capstone.json`` records what made it: the hyper-parameters, the seed, the metrics, the
history of every step, the versions, which implementation (the learner's or the reference) trained it, and
where the reference policy and the reward model are. torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

META = "capstone.json"
VALUE_HEAD = "value_head.safetensors"
OPTIMIZER = "optimizer.pt"


def versions() -> dict:
    import torch
    import transformers

    from grader import __version__

    return {"rlhf-course": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def write_meta(directory: Path, meta: dict) -> None:
    (directory / META).write_text(json.dumps({**meta, "versions": versions()}, indent=2) + "\n", encoding="utf-8")


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a capstone checkpoint (no {META})")
    return json.loads(path.read_text(encoding="utf-8"))


def save_policy(directory: Path, policy, tokenizer, meta: dict, value_head=None, optimizer=None) -> Path:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if value_head is not None:
        save_file({k: v.contiguous() for k, v in value_head.state_dict().items()}, str(directory / VALUE_HEAD))
    if optimizer is not None:
        import torch

        torch.save(optimizer.state_dict(), directory / OPTIMIZER)
    write_meta(directory, meta)
    return directory


def load_value_head(directory: Path, policy):
    """The PPO value head saved beside the policy (an ``nn.Linear``), or None if there is none."""
    from safetensors.torch import load_file

    from grader.capstone.ppo_training import value_head_for

    path = Path(directory) / VALUE_HEAD
    if not path.is_file():
        return None
    head = value_head_for(policy)
    head.load_state_dict(load_file(str(path), device=str(next(policy.parameters()).device)))
    return head


def load_optimizer(directory: Path, optimizer) -> bool:
    """Restore the optimizer's state if the checkpoint has one; True if it did."""
    import torch

    path = Path(directory) / OPTIMIZER
    if not path.is_file():
        return False
    device = next(p for g in optimizer.param_groups for p in g["params"]).device
    optimizer.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return True
