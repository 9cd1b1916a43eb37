"""Simulation: absolute ratings vs pairwise comparisons when raters are calibrated differently.

Toy model (all numbers below are choices of this script, not measurements of real raters):
  * N = 100 items with true quality q_i ~ N(0, 1).
  * A pool of R = 100 raters. Rater j perceives item i as u = a_j * q_i + b_j + noise,
    noise ~ N(0, 0.5^2) drawn afresh for every look at an item.
    "calibrated" raters:    a_j = 1, b_j = 0.
    "miscalibrated" raters: b_j ~ N(0, 1) (lenient / harsh), log a_j ~ U(log 1/3, log 3).
  * Absolute judgement: a random rater sees one random item and reports
    good / neutral / bad = 1.0 / 0.5 / 0.0 (u > 0.5, |u| <= 0.5, u < -0.5).
    Estimator: mean rating per item; also the mean of per-rater z-scored ratings.
  * Pairwise judgement: a random rater sees two distinct random items and says which is better
    (larger u). Estimator: Bradley-Terry scores fitted by 300 Adam steps (hand-written gradient)
    on the mean -log sigmoid(s_w - s_l) plus a small L2 penalty.
  * Metric: Spearman rank correlation between the estimate and q, averaged over 20 seeds.
One judgement = one rating or one comparison (a comparison shows the rater two items).
Run from the repo root:  python lessons/figures/reward_model_ratings_vs_pairs.py
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
import torch

torch.set_num_threads(1)

N_ITEMS = 100
N_RATERS = 100
NOISE = 0.5
BUDGETS = [100, 200, 400, 800, 1600, 3200]
N_SEEDS = 20
BT_STEPS = 300
BT_LR = 0.1
BT_L2 = 0.01


def ranks(x):
    r = np.empty(len(x))
    r[np.argsort(x)] = np.arange(len(x))
    return r


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def simulate(calibrated):
    res = {k: np.zeros((N_SEEDS, len(BUDGETS))) for k in ("mean", "z", "bt")}
    winners, losers, group = [], [], []
    qualities = []
    n_groups = 0
    for seed in range(N_SEEDS):
        rng = np.random.default_rng(seed)
        q = rng.normal(size=N_ITEMS)
        qualities.append(q)
        if calibrated:
            offset, scale = np.zeros(N_RATERS), np.ones(N_RATERS)
        else:
            offset = rng.normal(0.0, 1.0, size=N_RATERS)
            scale = np.exp(rng.uniform(-np.log(3.0), np.log(3.0), size=N_RATERS))
        for b, n_judge in enumerate(BUDGETS):
            # --- absolute ratings -------------------------------------------------
            item = rng.integers(0, N_ITEMS, n_judge)
            rater = rng.integers(0, N_RATERS, n_judge)
            u = scale[rater] * q[item] + offset[rater] + NOISE * rng.normal(size=n_judge)
            y = np.where(u > 0.5, 1.0, np.where(u < -0.5, 0.0, 0.5))
            cnt = np.bincount(item, minlength=N_ITEMS)
            tot = np.bincount(item, weights=y, minlength=N_ITEMS)
            mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), y.mean())  # unseen items get the global mean
            res["mean"][seed, b] = spearman(mean, q)
            # per-rater z-scoring: remove each rater's own mean and spread first
            rc = np.maximum(np.bincount(rater, minlength=N_RATERS), 1)
            r_mean = np.bincount(rater, weights=y, minlength=N_RATERS) / rc
            r_var = np.bincount(rater, weights=y**2, minlength=N_RATERS) / rc - r_mean**2
            z = (y - r_mean[rater]) / np.sqrt(r_var[rater] + 1e-2)
            z_tot = np.bincount(item, weights=z, minlength=N_ITEMS)
            res["z"][seed, b] = spearman(np.where(cnt > 0, z_tot / np.maximum(cnt, 1), 0.0), q)
            # --- pairwise comparisons --------------------------------------------
            i = rng.integers(0, N_ITEMS, n_judge)
            k = (i + rng.integers(1, N_ITEMS, n_judge)) % N_ITEMS  # k != i
            rater = rng.integers(0, N_RATERS, n_judge)
            ui = scale[rater] * q[i] + offset[rater] + NOISE * rng.normal(size=n_judge)
            uk = scale[rater] * q[k] + offset[rater] + NOISE * rng.normal(size=n_judge)
            win = np.where(ui > uk, i, k)
            lose = np.where(ui > uk, k, i)
            winners.append(win + n_groups * N_ITEMS)
            losers.append(lose + n_groups * N_ITEMS)
            group.append(np.full(n_judge, n_groups))
            n_groups += 1

    # Fit all (seed, budget) Bradley-Terry problems at once: they share no parameters,
    # each problem's loss is a mean over its own comparisons.
    # The gradient is written out by hand (d/dd of -log sigmoid(d) is -sigmoid(-d)),
    # which is much faster than autograd for these small index-heavy problems.
    w = torch.as_tensor(np.concatenate(winners))
    l = torch.as_tensor(np.concatenate(losers))
    g = torch.as_tensor(np.concatenate(group))
    per_pair_weight = 1.0 / torch.bincount(g).double()[g]
    s = torch.zeros(n_groups * N_ITEMS, dtype=torch.float64)
    s.grad = torch.zeros_like(s)
    opt = torch.optim.Adam([s], lr=BT_LR)
    for _ in range(BT_STEPS):
        push = torch.sigmoid(s[l] - s[w]) * per_pair_weight      # sigma(-d), weighted
        grad = 2.0 * BT_L2 * s / N_ITEMS                          # L2 term: BT_L2 * sum(s^2) / N_ITEMS
        grad.index_add_(0, w, -push)                              # dL/ds_w = -sigma(-d)
        grad.index_add_(0, l, push)                               # dL/ds_l = +sigma(-d)
        s.grad.copy_(grad)
        opt.step()
    scores = s.numpy().reshape(N_SEEDS, len(BUDGETS), N_ITEMS)
    for seed in range(N_SEEDS):
        for b in range(len(BUDGETS)):
            res["bt"][seed, b] = spearman(scores[seed, b], qualities[seed])
    return res


fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.8), sharey=True)
styles = {
    "mean": ("mean absolute rating", "C3", "o-", "mean rating"),
    "z": ("mean of per-rater z-scored ratings", "C2", "s:", "z-scored"),
    "bt": ("Bradley-Terry from comparisons", "C0", "^-", "Bradley-Terry"),
}
for ax, calibrated in zip(axes, (True, False)):
    res = simulate(calibrated)
    name = "calibrated raters" if calibrated else "miscalibrated raters"
    print(f"--- {name}: Spearman rank correlation with true quality (mean over {N_SEEDS} seeds)")
    print(f"{'judgements':<14s}" + "".join(f"{n:>8d}" for n in BUDGETS))
    for key, (label, colour, fmt, short) in styles.items():
        m, sd = res[key].mean(0), res[key].std(0)
        print(f"{short:<14s}" + "".join(f"{v:8.3f}" for v in m))
        ax.plot(BUDGETS, m, fmt, color=colour, label=label)
        ax.fill_between(BUDGETS, m - sd, m + sd, color=colour, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xticks(BUDGETS)
    ax.set_xticklabels([str(n) for n in BUDGETS])
    ax.set_xlabel("number of judgements (ratings or comparisons)")
    ax.grid(alpha=0.3)
    if calibrated:
        ax.set_title("Calibrated raters (all share one scale)")
    else:
        ax.set_title("Miscalibrated raters (offset ~ N(0,1), scale in [1/3, 3])")
axes[0].set_ylabel("Spearman correlation with true quality")
axes[0].legend(loc="lower right")
fig.suptitle(f"Toy simulation: {N_ITEMS} items, {N_RATERS} raters, 3-level ratings vs binary comparisons "
             f"(mean ± sd over {N_SEEDS} seeds)")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
