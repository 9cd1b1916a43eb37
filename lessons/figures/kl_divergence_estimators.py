"""Monte-Carlo estimators of KL(pi || pi_ref) from samples y ~ pi.

Setting (LM-like): one next-token distribution over a vocabulary of V tokens.
  pi     = softmax(z)                 (the policy)
  pi_ref = softmax(z + s * eps)       (the reference; s controls how far apart they are)
For each sampled token y ~ pi, with log r = log pi_ref(y) - log pi(y):
  k1 = -log r
  k2 = 0.5 * (log r)^2
  k3 = (r - 1) - log r
The true KL(pi || pi_ref) is computed exactly by summing over the vocabulary.
For each s the script draws N samples, and prints the sample mean, bias and
per-sample standard deviation of each estimator, the exact bias of k2, and the
exact bias of the WRONG "k3" built from the flipped ratio pi(y)/pi_ref(y)
(a common sign mistake; see the lesson).

Figure:
  left:   per-sample value of k1, k2, k3 as a function of log r, with the
          Taylor expansion k3 = (log r)^2/2 + (log r)^3/6 + ...
  middle: relative bias  (mean - KL) / KL  vs the true KL, with error bars of
          two Monte-Carlo standard errors
  right:  relative per-sample standard deviation  sd / KL  vs the true KL

Run from the repo root:  python lessons/figures/kl_divergence_estimators.py
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

V = 50
N = 200_000
SCALES = np.geomspace(0.05, 2.0, 9)


def log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def estimators(log_r):
    return {
        "k1": -log_r,
        "k2": 0.5 * log_r**2,
        "k3": np.expm1(log_r) - log_r,
    }


def main():
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, size=V)
    eps = rng.normal(0.0, 1.0, size=V)
    logp = log_softmax(z)
    p = np.exp(logp)

    rows = []
    header = (f"{'s':>5} {'KL':>7} | {'k1 bias':>8} {'k1 sd':>7} | {'k2 bias':>8} "
              f"{'(exact)':>8} {'k2 sd':>7} | {'k3 bias':>8} {'k3 sd':>7} | {'flipped':>8}")
    print(f"V={V}, N={N} samples per row; bias = sample mean - true KL; sd = per-sample sd")
    print(header)
    print("(exact) = exact bias of k2; flipped = exact bias of (r'-1) - log r' with r' = pi/pi_ref")
    print("-" * len(header))
    for s in SCALES:
        logq = log_softmax(z + s * eps)
        kl = float((p * (logp - logq)).sum())
        y = rng.choice(V, size=N, p=p)
        log_r = logq[y] - logp[y]
        est = estimators(log_r)
        exact_k2 = float((p * 0.5 * (logq - logp) ** 2).sum())
        u = logp - logq  # log of the flipped ratio pi / pi_ref
        exact_flipped = float((p * (np.expm1(u) - u)).sum())
        row = {"s": s, "kl": kl, "k2_exact_bias": exact_k2 - kl}
        for k, v in est.items():
            row[k + "_bias"] = v.mean() - kl
            row[k + "_sd"] = v.std()
        rows.append(row)
        print(f"{s:5.2f} {kl:7.4f} | {row['k1_bias']:+8.4f} {row['k1_sd']:7.4f} | "
              f"{row['k2_bias']:+8.4f} {row['k2_exact_bias']:+8.4f} {row['k2_sd']:7.4f} | "
              f"{row['k3_bias']:+8.4f} {row['k3_sd']:7.4f} | {exact_flipped - kl:+8.4f}")

    kls = np.array([r["kl"] for r in rows])
    colors = {"k1": "tab:orange", "k2": "tab:blue", "k3": "tab:green"}
    labels = {"k1": "k1 = -log r", "k2": "k2 = ½(log r)²", "k3": "k3 = (r-1) - log r"}

    # Three panels stacked, so that each is as wide as the column.
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 12))
    ax = axes[0]
    lr = np.linspace(-2.5, 2.0, 400)
    for k, v in estimators(lr).items():
        ax.plot(lr, v, color=colors[k], lw=2, label=labels[k])
    ax.plot(lr, 0.5 * lr**2 + lr**3 / 6, color="k", ls=":", lw=1.5,
            label="½(log r)² + ⅙(log r)³")
    ax.axhline(0, color="gray", lw=0.8)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_ylim(-2.5, 4)
    ax.set_xlabel("log r = log π_ref(y) - log π(y)")
    ax.set_ylabel("per-sample estimator value")
    ax.set_title("Per-sample value vs log r\n(k2, k3 agree to 2nd order at 0)")
    ax.legend(loc="upper center")

    ax = axes[1]
    for k in ("k1", "k2", "k3"):
        rel = np.array([r[k + "_bias"] for r in rows]) / kls
        se = np.array([r[k + "_sd"] for r in rows]) / np.sqrt(N) / kls
        ax.errorbar(kls, rel, yerr=2 * se, fmt="o-", capsize=3, color=colors[k],
                    label=labels[k])
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("true KL(π‖π_ref) (nats)")
    ax.set_ylabel("relative bias  (mean - KL) / KL")
    ax.set_title(f"Bias ({N:,} samples per point, ±2 s.e. bars)")
    ax.legend()

    ax = axes[2]
    for k in ("k1", "k2", "k3"):
        rel = np.array([r[k + "_sd"] for r in rows]) / kls
        ax.plot(kls, rel, "o-", color=colors[k], label=labels[k])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("true KL(π‖π_ref) (nats)")
    ax.set_ylabel("relative per-sample sd  (sd / KL)")
    ax.set_title("Spread of a single-sample estimate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight",
                metadata={"Software": None})


if __name__ == "__main__":
    main()
