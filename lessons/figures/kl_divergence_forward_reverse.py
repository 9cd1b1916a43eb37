"""Fit a single Gaussian q = N(mu, sigma^2) to a bimodal target p, both ways.

Target: p = 0.6 N(-2.5, 0.7^2) + 0.4 N(2.5, 0.7^2).
  forward KL:  min_q KL(p || q)   (expectation under the target; mass-covering)
  reverse KL:  min_q KL(q || p)   (expectation under the model;  mode-seeking)

Both divergences are computed by numerical quadrature on a fine grid and
minimised by brute-force search over (mu, sigma). The script prints the
optima (and, for the forward fit, the moment-matching answer it should
reproduce) and draws:
  left:  the target and the fitted Gaussians,
  right: each divergence minimised over sigma, as a function of mu
         ("profile"), which shows the several local minima of the reverse KL.

Run from the repo root:  python lessons/figures/kl_divergence_forward_reverse.py
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

W = np.array([0.6, 0.4])
MU = np.array([-2.5, 2.5])
SD = np.array([0.7, 0.7])

X = np.linspace(-10.0, 10.0, 2001)
DX = X[1] - X[0]


def log_normal(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def log_p(x):
    comps = np.log(W)[:, None] + log_normal(x[None, :], MU[:, None], SD[:, None])
    m = comps.max(axis=0)
    return m + np.log(np.exp(comps - m).sum(axis=0))


LOG_P = log_p(X)
P = np.exp(LOG_P)


def kl_forward(mu, sd):
    """KL(p || q) for arrays of (mu, sd); quadrature over X."""
    lq = log_normal(X[None, :], mu[:, None], sd[:, None])
    return ((P * (LOG_P - lq)).sum(axis=1)) * DX


def kl_reverse(mu, sd):
    """KL(q || p) for arrays of (mu, sd); quadrature over X."""
    lq = log_normal(X[None, :], mu[:, None], sd[:, None])
    q = np.exp(lq)
    return ((q * (lq - LOG_P[None, :])).sum(axis=1)) * DX


def main():
    mus = np.linspace(-4.0, 4.0, 321)
    sds = np.linspace(0.3, 3.5, 161)
    prof = {"forward": np.empty_like(mus), "reverse": np.empty_like(mus)}
    arg = {"forward": np.empty_like(mus), "reverse": np.empty_like(mus)}
    for i, m in enumerate(mus):
        mu_col = np.full_like(sds, m)
        for name, fn in (("forward", kl_forward), ("reverse", kl_reverse)):
            vals = fn(mu_col, sds)
            j = vals.argmin()
            prof[name][i] = vals[j]
            arg[name][i] = sds[j]

    mean_p = (W * MU).sum()
    var_p = (W * (SD**2 + MU**2)).sum() - mean_p**2
    print(f"target mean {mean_p:.3f}, target sd {np.sqrt(var_p):.3f} (moment matching)")
    fits = {}
    for name in ("forward", "reverse"):
        i = prof[name].argmin()
        fits[name] = (mus[i], arg[name][i])
        print(f"{name:7s} KL fit: mu = {mus[i]:+.2f}, sigma = {arg[name][i]:.2f}, "
              f"KL = {prof[name][i]:.3f}")
    r = prof["reverse"]
    local = [i for i in range(1, len(mus) - 1) if r[i] < r[i - 1] and r[i] < r[i + 1]]
    print("local minima of the reverse KL (profile over mu):")
    for i in local:
        print(f"  mu = {mus[i]:+.2f}, sigma = {arg['reverse'][i]:.2f}, KL = {r[i]:.3f}")
    print(f"-log 0.6 = {-np.log(0.6):.3f}, -log 0.4 = {-np.log(0.4):.3f}")

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
    ax = axes[0]
    ax.fill_between(X, P, color="gray", alpha=0.3, label="target p (bimodal)")
    for name, color, label in (("forward", "tab:blue", "argmin KL(p‖q), mass-covering"),
                               ("reverse", "tab:red", "argmin KL(q‖p), mode-seeking")):
        m, s = fits[name]
        ax.plot(X, np.exp(log_normal(X, m, s)), color=color, lw=2,
                label=f"{label}: mu={m:+.2f}, sigma={s:.2f}")
    for k, i in enumerate(i for i in local if abs(mus[i] - fits["reverse"][0]) > 0.5):
        m, s = mus[i], arg["reverse"][i]
        ax.plot(X, np.exp(log_normal(X, m, s)), color="tab:red", lw=1.2,
                ls=["--", ":"][k % 2],
                label=f"KL(q‖p) local minimum: mu={m:+.2f}, sigma={s:.2f}")
    ax.set_xlim(-7, 7)
    ax.set_ylim(0, 0.9)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title("Fitting one Gaussian q to a bimodal p")

    ax = axes[1]
    ax.plot(mus, prof["forward"], color="tab:blue", label="min over sigma of KL(p‖q)")
    ax.plot(mus, prof["reverse"], color="tab:red", label="min over sigma of KL(q‖p)")
    ax.set_xlabel("mean mu of the Gaussian q")
    ax.set_ylabel("divergence (nats)")
    ax.set_title("Profile over mu: forward KL has one minimum,\nreverse KL has several local minima")
    ax.set_ylim(0, 3)
    ax.set_xlim(mus[0], mus[-1])
    ax.legend()
    fig.tight_layout()
    # The left panel's long labels go under both panels, so that the panels keep their width.
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2, frameon=False)
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight",
                metadata={"Software": None})


if __name__ == "__main__":
    main()
