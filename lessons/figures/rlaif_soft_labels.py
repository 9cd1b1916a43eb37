"""The soft-label reward-model loss -[p log sigma(d) + (1 - p) log sigma(-d)] against the reward margin
d = r(chosen) - r(rejected), for several judge probabilities p, and its gradient.

With p = 1 (a hard label) the loss keeps falling as d grows: it asks for an infinite margin. With p < 1 it has a
minimum at d* = log(p / (1 - p)), where sigma(d*) = p: the reward model is asked to be exactly as sure as the
judge. The script prints d* and the lowest loss (the entropy of p) for each p < 1.

Run from the repo root:  python lessons/figures/rlaif_soft_labels.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def neg_logsigmoid(z):
    return np.logaddexp(0.0, -z)  # -log sigma(z), stable


def soft_label_loss(d, p):
    return p * neg_logsigmoid(d) + (1 - p) * neg_logsigmoid(-d)


d = np.linspace(-6, 6, 601)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for p in (1.0, 0.9, 0.7, 0.5):
    line, = ax1.plot(d, soft_label_loss(d, p), label=f"p = {p}")
    ax2.plot(d, 1 / (1 + np.exp(-d)) - p, color=line.get_color(), label=f"p = {p}")  # d loss / d d = sigma(d) - p
    if p < 1:
        best = np.log(p / (1 - p))
        entropy = soft_label_loss(best, p)
        ax1.plot([best], [entropy], "o", color=line.get_color(), ms=4)
        print(f"p = {p}: lowest loss {entropy:#.3g} at margin d* = log(p / (1 - p)) = {best:#.3g}")
ax1.set_xlabel("reward margin d = r(chosen) - r(rejected)")
ax1.set_ylabel("loss")
ax1.set_ylim(0, 3)
ax1.set_title("Soft-label loss (dots: its minimum, at $\\sigma(d) = p$)")
ax1.legend()
ax2.axhline(0, color="gray", lw=0.8)
ax2.set_xlabel("reward margin d")
ax2.set_ylabel("d loss / d d")
ax2.set_title("Its gradient $\\sigma(d) - p$: zero at $d^*$, never for p = 1")
ax2.legend()
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
