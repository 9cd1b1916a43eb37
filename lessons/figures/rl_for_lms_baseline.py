"""REINFORCE with and without a baseline on a toy autoregressive "language model".

Task: a tabular policy generates T tokens from a vocabulary of V tokens. The
next-token logits depend on the position t and on the previous token (a
bigram-style policy), so pi(y | x) = prod_t pi(y_t | y_{t-1}, t).
The reward is sparse, one score per completion, like a reward model:

    R(y) = c + (number of positions where y_t matches a fixed target) / T

The offset c mimics an uncalibrated reward model whose scores do not sit
around zero. It does not change which policy is best, but it changes the
variance of the plain REINFORCE gradient.

Left panel: learning curves (match fraction of sampled completions) for
  - no baseline,
  - a moving-average baseline,
  - a leave-one-out (RLOO) baseline computed from the other samples of the batch,
averaged over seeds.
Right panel: total variance of the single-sample gradient estimate at the
initial (uniform) policy, as a function of the offset c, with b = 0 and with
b = E[R].

Run from the repo root:  python lessons/figures/rl_for_lms_baseline.py
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

T = 6  # completion length (tokens)
V = 4  # vocabulary size
BOS = V  # index used as the "previous token" at t = 0
TARGET = np.array([0, 1, 2, 3, 0, 1])
OFFSET = 2.0  # reward offset c used in the learning curves
BATCH = 8
STEPS = 300
LR = 0.5
SEEDS = 20


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample(theta, n, rng):
    """Sample n completions; return tokens (n, T) and score-function grads (n, T, V+1, V)."""
    tokens = np.empty((n, T), dtype=int)
    score = np.zeros((n,) + theta.shape)
    prev = np.full(n, BOS)
    rows = np.arange(n)
    for t in range(T):
        p = softmax(theta[t, prev])  # (n, V)
        u = rng.random(n)[:, None]
        y = (u > np.cumsum(p, axis=1)).sum(axis=1)
        y = np.minimum(y, V - 1)
        tokens[:, t] = y
        # d log pi(y_t | s_t) / d logits = onehot(y_t) - softmax
        g = -p
        g[rows, y] += 1.0
        score[rows, t, prev] += g
        prev = y
    return tokens, score


def match_fraction(tokens):
    return (tokens == TARGET).mean(axis=1)


def train(method, seed):
    rng = np.random.default_rng(seed)
    theta = np.zeros((T, V + 1, V))
    running = OFFSET + 1.0 / V  # moving-average baseline, initialised at a guess
    curve = np.empty(STEPS)
    for step in range(STEPS):
        tokens, score = sample(theta, BATCH, rng)
        m = match_fraction(tokens)
        R = OFFSET + m
        curve[step] = m.mean()
        if method == "none":
            adv = R
        elif method == "moving":
            adv = R - running
            running = 0.9 * running + 0.1 * R.mean()
        elif method == "rloo":
            adv = R - (R.sum() - R) / (BATCH - 1)
        else:
            raise ValueError(method)
        grad = np.tensordot(adv, score, axes=(0, 0)) / BATCH
        theta += LR * grad  # gradient ascent on E[R]
    return curve


def grad_variance(offsets, n=20000, seed=0):
    """Total variance (trace of covariance) of the one-sample estimate (R - b) * score."""
    rng = np.random.default_rng(seed)
    theta = np.zeros((T, V + 1, V))
    tokens, score = sample(theta, n, rng)
    m = match_fraction(tokens)
    flat = score.reshape(n, -1)
    out = {"none": [], "mean": []}
    for c in offsets:
        R = c + m
        for name, b in (("none", 0.0), ("mean", c + 1.0 / V)):  # E[m] = 1/V at uniform policy
            g = (R - b)[:, None] * flat
            out[name].append(g.var(axis=0).sum())
    return {k: np.array(v) for k, v in out.items()}


def main():
    methods = [("none", "no baseline"), ("moving", "moving-average baseline"),
               ("rloo", "leave-one-out baseline (RLOO)")]
    curves = {}
    for key, _ in methods:
        curves[key] = np.stack([train(key, 1000 + s) for s in range(SEEDS)])

    offsets = np.linspace(-2, 4, 13)
    var = grad_variance(offsets)

    print(f"Toy task: T={T}, V={V}, reward offset c={OFFSET}, batch={BATCH}, lr={LR}, "
          f"{SEEDS} seeds")
    print("mean match fraction (avg over seeds) at steps 50 / 150 / 300:")
    for key, label in methods:
        c = curves[key].mean(axis=0)
        print(f"  {label:32s} {c[49]:.3f} / {c[149]:.3f} / {c[-1]:.3f}")
    print("total variance of single-sample gradient at the uniform policy:")
    print("    c    b=0      b=E[R]")
    for c, a, b in zip(offsets, var["none"], var["mean"]):
        print(f"  {c:5.1f} {a:8.3f} {b:8.3f}")

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.8))
    ax = axes[0]
    steps = np.arange(1, STEPS + 1)
    styles = [("tab:red", "-"), ("tab:blue", "-"), ("tab:green", "--")]
    for (key, label), (color, ls) in zip(methods, styles):
        mean = curves[key].mean(axis=0)
        sd = curves[key].std(axis=0)
        ax.plot(steps, mean, color=color, ls=ls, label=label)
        ax.fill_between(steps, mean - sd, mean + sd, color=color, alpha=0.15)
    ax.axhline(1.0 / V, color="gray", ls=":", lw=1, label="uniform policy (1/V)")
    ax.set_xlabel("training step (batch of 8 completions)")
    ax.set_ylabel("match fraction of sampled completions")
    ax.set_title(f"REINFORCE, sparse reward R = {OFFSET:g} + match fraction\n"
                 f"mean ± 1 sd over {SEEDS} seeds")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")

    ax = axes[1]
    ax.plot(offsets, var["none"], "o-", color="tab:red", label="b = 0")
    ax.plot(offsets, var["mean"], "s-", color="tab:blue", label="b = E[R]")
    ax.set_xlabel("reward offset c  (R = c + match fraction)")
    ax.set_yscale("log")
    ax.set_ylabel("total variance of one-sample gradient (log scale)")
    ax.set_title("Gradient-estimate variance at the initial policy\n"
                 "(same expected gradient in both cases)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight",
                metadata={"Software": None})


if __name__ == "__main__":
    main()
