"""Self-consistency: the accuracy of a vote over n sampled reasoning paths, computed exactly.

Each path's final answer is drawn independently: the correct one with probability p, else one of m wrong answers,
each with probability (1 - p) / m. The vote returns the most frequent answer, ties broken uniformly at random.

  m = 1 (one wrong answer: right or wrong): the binomial formula. For odd n,
        P(vote correct) = sum_{k > n/2} C(n, k) p^k (1 - p)^(n - k),
  and an even n is exactly as accurate as n - 1 (a tie at n/2 is a fair coin flip).
  m > 1: the correct answer wins with k votes if every wrong answer has fewer, or shares the top with j others
  (then with probability 1 / (j + 1)). The counts of the n - k wrong votes are multinomial; the probability that
  all m stay below k, or that j of them reach exactly k and the rest stay below, is a coefficient of a product of
  truncated exponential series (the exponential generating function of bounded counts).

Left: the binomial case for several p. Right: p = 0.4 with the wrong answers spread over m = 1, 2, 3, 6 values: a
vote can recover an answer that is right less than half the time, provided it is the single most likely answer.
Prints the lesson's worked example.

Run:  python lessons/figures/reasoning_self_consistency.py
"""
from math import comb, factorial
from pathlib import Path

import numpy as np


def truncated_exp(k: int, degree: int) -> np.ndarray:
    """Coefficients of sum_{c < k} x^c / c!, padded to `degree` + 1 terms."""
    coef = np.zeros(degree + 1)
    for c in range(min(k, degree + 1)):
        coef[c] = 1 / factorial(c)
    return coef


def poly_mul(a: np.ndarray, b: np.ndarray, degree: int) -> np.ndarray:
    return np.convolve(a, b)[: degree + 1]


def vote_accuracy(p: float, n: int, m: int = 1) -> float:
    """P(the vote over n samples returns the correct answer), m wrong answers of equal probability."""
    total = 0.0
    for k in range(n + 1):  # k votes for the correct answer
        r = n - k  # votes for the wrong answers, multinomial over m equally likely values
        below = truncated_exp(k, r)  # a wrong answer's count stays below k
        at_k = np.zeros(r + 1)
        if k <= r:
            at_k[k] = 1 / factorial(k)  # a wrong answer's count is exactly k
        win = 0.0
        for j in range(m + 1):  # j wrong answers tie with the correct one at k votes
            poly = np.zeros(r + 1)
            poly[0] = 1.0
            for _ in range(j):
                poly = poly_mul(poly, at_k, r)
            for _ in range(m - j):
                poly = poly_mul(poly, below, r)
            win += comb(m, j) * poly[r] * factorial(r) / m ** r / (j + 1)
        total += comb(n, k) * p ** k * (1 - p) ** r * win
    return total


def binomial_majority(p: float, n: int) -> float:
    """The binomial formula for odd n: more than half of the n samples correct."""
    return sum(comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def row(what: str, values: dict[int, float], digits: int) -> None:
        print(f"{what:<34}" + ", ".join(f"n = {n}: {v:.{digits}f}" for n, v in values.items()))

    row("p = 0.6, one wrong answer:", {n: binomial_majority(0.6, n) for n in (1, 3, 5, 11, 41)}, 5)
    row("p = 0.6, ties by a coin flip:", {n: vote_accuracy(0.6, n) for n in (3, 4, 5, 6)}, 5)
    row("p = 0.4, wrong answers 0.3 + 0.3:", {n: vote_accuracy(0.4, n, 2) for n in (1, 5, 11, 41)}, 4)
    row("p = 0.4, one wrong answer (0.6):", {n: vote_accuracy(0.4, n, 1) for n in (1, 5, 11, 41)}, 4)

    odd = list(range(1, 42, 2))  # Python ints: m ** r overflows numpy's int64
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for p in (0.8, 0.7, 0.6, 0.5, 0.4):
        left.plot(odd, [binomial_majority(p, n) for n in odd], "o-", ms=3, label=f"p = {p}")
    left.set_title("Right or wrong: majority of n samples")
    left.set_xlabel("samples n (odd)")
    left.set_ylabel("P(vote is correct)")
    left.legend(loc="lower right", bbox_to_anchor=(1, 0.17), fontsize=9, ncol=2)
    for m in (6, 3, 2, 1):
        each = 0.6 / m
        right.plot(odd, [vote_accuracy(0.4, n, m) for n in odd], "o-", ms=3,
                   label=f"{m} wrong answer{'s' * (m > 1)}, {each:.2g} each")
    right.set_title("p = 0.4, the other 0.6 spread over m wrong answers")
    right.set_xlabel("samples n (odd)")
    right.legend(loc="lower right", bbox_to_anchor=(1, 0.2), fontsize=9)
    for ax in (left, right):
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
