"""Position bias of an AI judge: P("1") with A shown first against P("1") with B shown first, one point per pair.

Left: the course's untrained tiny GPT-2 as the judge (``grader.load_gpt2()``), scored by the exercise's reference
code (``solutions/rlaif.py``: format_judge_prompt, label_token_ids, judge_probs) on the shipped preference pairs
whose judge prompt fits its 128 positions, with the short preamble. A is the human's chosen response for half of
the pairs, the rejected one for the other half.
Right: a simulated judge with a known position bias, on all 200 shipped training pairs: its logit for "1" is
    s * (quality of response 1 - quality of response 2) + b + noise,
with quality +1 for the human's chosen response and -1 for the rejected one, s = 0.5, b = 1.5, noise ~ N(0, 1)
drawn independently for each order (seeded).

On the dotted line x + y = 1 a judge gives the same verdict in both orders; on the dashed line x = y it gives the
same *label* whatever the order, i.e. it judges positions, not responses. The script prints, for each judge, the
mean P("1") in both orders, how often the two orders pick the same position, the range of the debiased P(A), and
its agreement with the human labels from one order and from both.

Run from the repo root:  python lessons/figures/rlaif_position_bias.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import grader
from grader import load_gpt2, load_preferences
from grader.learner import load_namespace

ROOT = Path(grader.__file__).resolve().parent.parent  # the clone the course is installed from
REF = load_namespace(ROOT / "solutions" / "rlaif.py")
torch.set_num_threads(1)  # the same sums in the same order on every machine


def tiny_judge(pairs, human_a):
    model, tokenizer, device = load_gpt2(device="cpu")
    fmt = REF["format_judge_prompt"]
    a = [p["chosen"] if h else p["rejected"] for p, h in zip(pairs, human_a)]
    b = [p["rejected"] if h else p["chosen"] for p, h in zip(pairs, human_a)]
    first = [fmt(p["prompt"], x, y, REF["SHORT_PREAMBLE"]) for p, x, y in zip(pairs, a, b)]
    second = [fmt(p["prompt"], y, x, REF["SHORT_PREAMBLE"]) for p, x, y in zip(pairs, a, b)]
    ids = REF["label_token_ids"](tokenizer, first[0])
    batch = tokenizer(first + second, padding=True, return_tensors="pt")
    probs = REF["judge_probs"](model, batch["input_ids"], batch["attention_mask"], ids)[:, 0].double().numpy()
    return probs[: len(pairs)], probs[len(pairs):]


def simulated_judge(human_a, s=0.5, b=1.5, seed=0):
    rng = np.random.default_rng(seed)
    quality = np.where(human_a, 1.0, -1.0)  # quality(A) - quality(B) is 2 * quality
    x = 1 / (1 + np.exp(-(s * 2 * quality + b + rng.normal(size=quality.size))))  # A is response 1
    y = 1 / (1 + np.exp(-(-s * 2 * quality + b + rng.normal(size=quality.size))))  # B is response 1
    return x, y


def report(name, x, y, human_a):
    p_a = (x + 1 - y) / 2
    same_position = np.mean((x > 0.5) == (y > 0.5))
    print(f"{name}: mean P('1') {x.mean():.3g} with A first, {y.mean():.3g} with B first; the two orders pick the "
          f"same position for {same_position:.3g} of the pairs; debiased P(A) from {p_a.min():.3g} to {p_a.max():.3g}; "
          f"agreement with the human labels {np.mean((x > 0.5) == human_a):.3g} (A first only), "
          f"{np.mean((p_a > 0.5) == human_a):.3g} (both orders)")


_, tokenizer, _ = load_gpt2(device="cpu")
pairs = [p for p in load_preferences("train")
         if len(tokenizer(REF["format_judge_prompt"](p["prompt"], p["chosen"], p["rejected"], REF["SHORT_PREAMBLE"]),
                          verbose=False)["input_ids"]) <= 128]
human_a = np.arange(len(pairs)) % 2 == 0
simulated_human_a = np.arange(200) % 2 == 0
print(f"{len(pairs)} shipped pairs fit the tiny GPT-2's 128 positions")
judges = {f"tiny GPT-2 (untrained), {len(pairs)} pairs": (tiny_judge(pairs, human_a), human_a),
          "simulated judge, bias b = 1.5, 200 pairs": (simulated_judge(simulated_human_a), simulated_human_a)}

fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.6))
for ax, (name, ((x, y), human_a)) in zip(axes, judges.items()):
    report(name, x, y, human_a)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="x = y: the same label in both orders")
    ax.plot([0, 1], [1, 0], "k:", lw=0.8, label="x + y = 1: no position bias")
    ax.scatter(x[human_a], y[human_a], s=18, label="A is the human's choice")
    ax.scatter(x[~human_a], y[~human_a], s=18, marker="x", label="B is the human's choice")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("P('1') with A shown first")
    ax.set_ylabel("P('1') with B shown first")
    ax.set_title(name)
axes[0].legend(fontsize=7, loc="upper left")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
