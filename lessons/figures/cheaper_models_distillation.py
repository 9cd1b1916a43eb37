"""Distillation on the course's tiny GPT-2: softened targets, and students trained on them.

Teacher: the tiny GPT-2 (64-dim, 2 layers) trained on the course corpus by ``grader.compression.trained_gpt2``
(float64, seeded, cached). Student: a 32-dim, 1-layer GPT-2 with the same vocabulary (about 4 times fewer
parameters), drawn from one seed and trained from the same start, on the same seeded batches, in three ways:

  hard labels          cross-entropy on the corpus's next tokens (no teacher);
  forward KL, T = 1    T^2 KL(p_teacher || p_student) on the teacher's full next-token distributions;
  forward KL, T = 2    half the T = 2 soft loss and half the hard-label loss (Hinton et al.'s mix).

For each student it prints held-out perplexity, both KL directions to the teacher and the mean entropy of its
next-token distributions.

Left panel: the teacher's next-token distribution after one held-out prefix, at temperatures 1, 2 and 4.
Right panel: held-out perplexity of each student against the step. Everything runs in float64 on one thread,
so the printed numbers, which the lesson quotes, do not depend on the CPU.

Run from the repo root:  python lessons/figures/cheaper_models_distillation.py   (about a minute of CPU time)
"""
import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Drawn about as wide as the website's text column (about 700 px), with fonts to match, and saved
# at twice that resolution so that the enlarged view (click on the figure) stays sharp.
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 10,
                     "ytick.labelsize": 10, "legend.fontsize": 9.5, "figure.titlesize": 12})
import torch
from transformers import GPT2LMHeadModel

from grader.compression import (corpus_split, distillation_objective, divergences, next_token_loss, perplexity,
                                student_config, train_lm, trained_gpt2)

torch.set_num_threads(1)
STEPS, EVERY, TOP = 400, 20, 8
PREFIX = "Every morning I wake up at"
TEMPERATURES = (1.0, 2.0, 4.0)
RUNS = [("hard labels", next_token_loss, "0.35", "-"),
        ("forward KL, T = 1", dict(temperature=1.0), "C0", "-"),
        ("forward KL, T = 2, half hard", dict(temperature=2.0, hard_weight=0.5), "C2", "-")]


def shown(token: str) -> str:
    return token.replace("Ġ", "·").replace("Ċ", "\\n").replace("<|endoftext|>", "EOS")


def main():
    teacher, tok = trained_gpt2()
    train_ids, held = corpus_split(tok)
    torch.manual_seed(1)
    start = GPT2LMHeadModel(student_config(teacher.config)).double().eval()
    n_t, n_s = (sum(p.numel() for p in m.parameters()) for m in (teacher, start))
    print(f"teacher {n_t} parameters, held-out perplexity {perplexity(teacher, held):.1f}; student {n_s} parameters")

    curves = {}
    for name, how, _, _ in RUNS:
        loss_fn = how if callable(how) else distillation_objective(teacher, **how)
        points = []
        student = train_lm(copy.deepcopy(start), train_ids, STEPS, loss_fn, every=EVERY,
                           on_step=lambda step, m, points=points: points.append((step, perplexity(m, held))))
        curves[name] = points
        fwd, rev, ent = divergences(teacher, student, held)
        at = dict(points)
        print(f"  {name:<30} held-out perplexity  step 100 {at[100]:5.1f}   step {STEPS} {at[STEPS]:5.1f}   "
              f"KL(t||s) {fwd:.3f}  KL(s||t) {rev:.3f}  entropy {ent:.2f} nats")
    print(f"  {'(teacher)':<30} entropy {divergences(teacher, teacher, held)[2]:.2f} nats")

    ids = tok(PREFIX)["input_ids"]
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor([ids])).logits[0, -1]
    order = torch.argsort(logits, descending=True)[:TOP]
    labels = [shown(t) for t in tok.convert_ids_to_tokens(order.tolist())] + ["all others"]
    print(f"teacher after {PREFIX!r}: top tokens {labels[:4]}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    ax = axes[0]
    width = 0.8 / len(TEMPERATURES)
    for k, T in enumerate(TEMPERATURES):
        p = torch.softmax(logits / T, -1)
        shown_p = p[order].tolist() + [1 - p[order].sum().item()]
        entropy = -(p * p.log()).sum().item()
        print(f"  T = {T:g}: p(top) = {shown_p[0]:.3f}, mass outside the top {TOP} = {shown_p[-1]:.3f}, "
              f"entropy {entropy:.2f} nats")
        ax.bar([i + (k - 1) * width for i in range(TOP + 1)], shown_p, width=width, color=f"C{k}",
               label=f"T = {T:g} (entropy {entropy:.2f} nats)")
    ax.set_xticks(range(TOP + 1))
    ax.set_xticklabels(labels, rotation=60, ha="right")
    ax.set_ylabel("probability")
    ax.set_title(f"Teacher's next token after\n\"{PREFIX}\"")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    for name, _, color, style in RUNS:
        steps, ppl = zip(*curves[name][1:])
        ax.plot(steps, ppl, color=color, ls=style, lw=1.8, label=name)
    ax.axhline(perplexity(teacher, held), color="k", lw=1, ls=":", label="teacher")
    ax.set_yscale("log")
    ax.set_ylim(35, 200)
    ax.set_yticks([40, 50, 70, 100, 150, 200], ["40", "50", "70", "100", "150", "200"])
    ax.minorticks_off()
    ax.set_xlabel("AdamW step")
    ax.set_ylabel("held-out perplexity")
    ax.set_title(f"Student ({n_s // 1000}k params) vs teacher ({n_t // 1000}k)")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
