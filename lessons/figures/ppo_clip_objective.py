"""Per-sample PPO clipped objective min(rho*A, clip(rho, 1-eps, 1+eps)*A) as a function of rho.

Two panels (A > 0 and A < 0). The regions of rho where the objective is flat in rho
(so the policy gradient through that sample is exactly zero) are shaded.
Run from the repo root:  python lessons/figures/ppo_clip_objective.py
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

EPS = 0.2
rho = np.linspace(0.0, 2.0, 801)


def clipped_objective(rho, adv, eps=EPS):
    return np.minimum(rho * adv, np.clip(rho, 1 - eps, 1 + eps) * adv)


# Stacked, so that each panel is as wide as the column; one legend for both, underneath.
fig, axes = plt.subplots(2, 1, figsize=(7, 7.4))
for ax, adv in zip(axes, (1.0, -1.0)):
    ax.plot(rho, rho * adv, ls="--", color="0.55", lw=1.3, label=r"unclipped $\rho A$")
    ax.plot(rho, clipped_objective(rho, adv), color="C0", lw=2.4,
            label=r"$\min(\rho A,\ \operatorname{clip}(\rho,1-\epsilon,1+\epsilon)A)$")
    if adv > 0:
        ax.axvspan(1 + EPS, 2.0, color="C3", alpha=0.15, label="clipped: gradient = 0")
        ax.text(1.6, 0.25, "clipped\n(no further\nincrease)", ha="center", fontsize=10, color="C3")
        ax.text(0.4, 1.35, "unclipped below $1-\\epsilon$:\ngradient pushes $\\rho$ up", ha="center",
                fontsize=10, color="C0")
        ax.set_title(r"$A > 0$ (token better than expected), $\epsilon=0.2$")
    else:
        ax.axvspan(0.0, 1 - EPS, color="C3", alpha=0.15, label="clipped: gradient = 0")
        ax.text(0.4, -0.45, "clipped\n(no further\ndecrease)", ha="center", fontsize=10, color="C3")
        ax.text(1.55, -0.45, "unclipped above $1+\\epsilon$:\npessimistic bound,\ngradient pushes $\\rho$ down",
                ha="center", fontsize=10, color="C0")
        ax.set_title(r"$A < 0$ (token worse than expected), $\epsilon=0.2$")
    for x in (1 - EPS, 1 + EPS):
        ax.axvline(x, color="0.3", lw=0.8, ls=":")
    ax.axvline(1.0, color="0.3", lw=0.8)
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel(r"probability ratio $\rho = \pi_\theta(a\mid s)\,/\,\pi_{\mathrm{old}}(a\mid s)$")
    ax.set_ylabel("per-sample objective (maximised)")
    ax.set_xlim(0, 2)
fig.suptitle("PPO clipped surrogate per token, for advantage A = +1 (top) and A = -1 (bottom)")
fig.tight_layout()
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
           frameon=False)
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
