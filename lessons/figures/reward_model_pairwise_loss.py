"""Pairwise (Bradley-Terry) reward-model loss and its gradient vs the reward gap.

Plots L(d) = -log sigmoid(d - m) and dL/dd = -sigmoid(m - d) for d = r_chosen - r_rejected,
with margin m = 0 (plain Bradley-Terry) and m = 1 (Llama-2-style margin).
Run from the repo root:  python lessons/figures/reward_model_pairwise_loss.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Drawn about as wide as the website's text column (about 700 px), with fonts to match, and saved
# at twice that resolution so that the enlarged view (click on the figure) stays sharp.
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 10,
                     "ytick.labelsize": 10, "legend.fontsize": 9.5, "figure.titlesize": 12})
import numpy as np


def softplus(x):
    # numerically stable log(1 + exp(x))
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


d = np.linspace(-6, 6, 601)
fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(8.5, 3.6))

for m, style, colour in [(0.0, "-", "C0"), (1.0, "--", "C1")]:
    loss = softplus(-(d - m))          # -log sigmoid(d - m)
    grad = -sigmoid(-(d - m))          # dL/dd
    label = "no margin (m = 0)" if m == 0 else f"margin m = {m:g}"
    ax_l.plot(d, loss, style, color=colour, label=label)
    ax_g.plot(d, grad, style, color=colour, label=label)

ax_l.axvline(0, color="grey", lw=0.6)
ax_l.axhline(np.log(2), color="grey", lw=0.6, ls=":")
ax_l.plot([0.0, 1.0], [np.log(2), np.log(2)], "ko", ms=4)
ax_l.annotate("loss = log 2 where d = m", xy=(1.0, np.log(2)), xytext=(0.6, 2.4),
              arrowprops=dict(arrowstyle="->", color="grey"), fontsize=10)
ax_l.set_xlabel(r"reward gap $d = r_c - r_r$")
ax_l.set_ylabel(r"loss $-\log\sigma(d - m)$")
ax_l.set_title("Pairwise loss")
ax_l.set_ylim(0, 6.5)
ax_l.legend()
ax_l.grid(alpha=0.3)

ax_g.axvline(0, color="grey", lw=0.6)
ax_g.axhline(-1, color="grey", lw=0.6, ls=":")
ax_g.axhline(0, color="grey", lw=0.6, ls=":")
ax_g.set_xlabel(r"reward gap $d = r_c - r_r$")
ax_g.set_ylabel(r"$\partial L / \partial d = -\sigma(m - d)$")
ax_g.set_title("Gradient: never exceeds 1 in size")
ax_g.set_ylim(-1.1, 0.1)
ax_g.legend()
ax_g.grid(alpha=0.3)

fig.suptitle("Bradley-Terry reward-model loss: linear for wrong pairs, vanishing for confident right ones")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
