"""The capstone's policy (grader/capstone/policy.py): how long its SFT build takes, and what it writes.

    python benchmarks/capstone_policy.py

Builds the policy in a fresh cache (the tiny GPT-2 reused from the course's cache), then samples the held-out
and the training prompts and prints: the build's wall time against the one-minute budget and the machine's load
average (other work slows it), the SFT loss at the first and last steps, the share of kind (preference_score > 0)
and rude (< 0) samples of the SFT policy and of the untrained tiny GPT-2, and the share of samples that end
(EOS) within 24, 32 and 40 new tokens, the figure behind ``policy.COMPLETION_TOKENS``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from grader import load_gpt2  # noqa: E402
from grader.capstone import policy, task  # noqa: E402

BUDGET_S = 60


def shares(samples: list[list[str]]) -> str:
    scores = [task.preference_score(s) for group in samples for s in group]
    kind = sum(s > 0 for s in scores) / len(scores)
    rude = sum(s < 0 for s in scores) / len(scores)
    return f"kind {kind:.0%}, rude {rude:.0%}, mean score {statistics.mean(scores):+.2f} ({len(scores)} samples)"


def ended_within(model, tokenizer, prompts, tokens: int, n: int = 4) -> float:
    """The share of samples (seed 0) that reach EOS within ``tokens`` new tokens."""
    tokenizer.padding_side = "left"
    batch = tokenizer([policy.format_prompt(p) for p in prompts], padding=True, return_tensors="pt")
    tokenizer.padding_side = "right"
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=True, top_k=0, top_p=1.0, max_new_tokens=tokens,
                             num_return_sequences=n, pad_token_id=tokenizer.pad_token_id)
    return float((out[:, batch["input_ids"].shape[1]:] == tokenizer.eos_token_id).any(1).float().mean())


def main() -> int:
    load_gpt2()  # the tiny GPT-2 itself is not what is timed
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="capstone-policy-") as tmp:
        start = time.perf_counter()
        policy.build(policy.SFTSettings(), Path(tmp) / "policy", progress=False)
        seconds = time.perf_counter() - start
        sft = load_gpt2(str(Path(tmp) / "policy"), device="cpu")
        losses = json.loads((Path(tmp) / "policy" / policy.TRAINING_LOG).read_text())["losses"]
    print(f"SFT build: {seconds:.1f} s ({policy.SFTSettings().steps} steps; budget {BUDGET_S} s); "
          f"load average {before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"SFT loss: {losses[0]:.3f} at the first step, {statistics.mean(losses[-20:]):.3f} over the last 20")
    base = load_gpt2(device="cpu")
    for name, prompts in (("held-out", task.EVAL_PROMPTS), ("training", task.TRAIN_PROMPTS)):
        print(f"{name} prompts, SFT policy:      {shares(policy.generate(sft.model, sft.tokenizer, prompts, 8))}")
        print(f"{name} prompts, untrained GPT-2: {shares(policy.generate(base.model, base.tokenizer, prompts, 8))}")
    prompts = task.TRAIN_PROMPTS + task.EVAL_PROMPTS
    print("samples ending within N new tokens: " + ", ".join(
        f"{n}: {ended_within(sft.model, sft.tokenizer, prompts, n):.0%}" for n in (24, 32, 40)))
    print("\nsamples (held-out prompts, seed 0):")
    for prompt, group in zip(task.EVAL_PROMPTS[:4], policy.generate(sft.model, sft.tokenizer, task.EVAL_PROMPTS[:4], 3)):
        print(f"  {prompt}")
        for text in group:
            print(f"    {task.preference_score(text):+.0f}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
