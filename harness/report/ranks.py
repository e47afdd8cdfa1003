"""Verdicts across the series of a panel: average ranks, the Friedman test and the Nemenyi critical
difference (Demšar 2006, "Statistical comparisons of classifiers over multiple data sets", JMLR 7).

A score table is (N series, k forecasters), lower is better. Each series ranks the forecasters 1..k
(ties share their mean rank); the Friedman test (scipy.stats.friedmanchisquare) asks whether the mean
ranks differ more than chance would make them; the Nemenyi post-hoc test calls two forecasters different
when their mean ranks differ by more than the critical difference

    CD = q_alpha sqrt(k (k + 1) / (6 N)),  q_alpha = studentized_range.ppf(1 - alpha, k, inf) / sqrt(2)

(Demšar's table: q_0.05 = 1.960, 2.343, 2.569, 2.728 for k = 2, 3, 4, 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """(N, k) scores, lower better -> (k,) mean rank over the N rows (1 = best, ties averaged)."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(scores, dtype=np.float64), axis=1).mean(axis=0)


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """The Nemenyi critical difference of mean ranks for k forecasters over n series."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


@dataclass
class RankTest:
    names: list[str]
    ranks: np.ndarray  # (k,) mean ranks
    n: int  # series
    statistic: float  # Friedman's chi-squared
    p_value: float
    cd: float  # Nemenyi critical difference at alpha
    alpha: float = 0.05

    def groups(self) -> list[tuple[int, int]]:
        """Maximal runs (i, j) of the forecasters sorted by rank whose ranks lie within one CD (no difference)."""
        order = np.argsort(self.ranks)
        r = self.ranks[order]
        out = []
        for i in range(len(r)):
            j = int(np.searchsorted(r, r[i] + self.cd, side="right")) - 1
            if j > i and not any(a <= i and j <= b for a, b in out):
                out.append((i, j))
        return out


def rank_test(scores: np.ndarray, names: list[str], alpha: float = 0.05) -> RankTest | None:
    """Mean ranks, Friedman and Nemenyi over the rows of ``scores`` (N, k) with no NaN; None when k < 3 or N < 2."""
    from scipy.stats import friedmanchisquare

    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores).all(axis=1)]
    n, k = scores.shape
    if k < 3 or n < 2:
        return None
    stat, p = friedmanchisquare(*scores.T)
    return RankTest(list(names), average_ranks(scores), n, float(stat), float(p), nemenyi_cd(k, n, alpha), alpha)
