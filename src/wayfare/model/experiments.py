"""Deciding an experiment: which path of a ``FLOW_RANDOM`` converts best, if any, and how sure.

Pure functions of the figures (customers and conversions per path). An experiment decides once,
when every path has its minimum sample: a fixed-horizon test, so that looking again and again
does not turn noise into a winner. Two rules:

- ``ztest``: the best observed path against each other one, a two-sided two-proportion z-test
  with continuity correction (Yates), at ``1 - confidence`` split evenly over the comparisons
  (Bonferroni). A winner only if it beats every other path.
- ``bayes``: each path's rate has a Beta(1 + conversions, 1 + failures) posterior; the winner is
  the path whose probability to be best reaches ``confidence``. With two paths and no true
  difference this picks one in about ``2 (1 - confidence)`` of experiments: ask 0.975 for 5 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

STANDARD = NormalDist()
GRID = 2001
"""Points of the numeric integration of the probability to be best."""


class Rule(StrEnum):
    """How an experiment decides."""

    ZTEST = "ztest"
    BAYES = "bayes"


@dataclass(frozen=True, slots=True)
class Sample:
    """A path's figures: customers whose goal window has closed, and how many converted."""

    customers: int
    conversions: int

    @property
    def rate(self) -> float:
        """The observed conversion rate (0 for no customers)."""
        return self.conversions / self.customers if self.customers else 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule concluded: the winning path's index or None, and the figure behind it.

    ``scores``: per path, the p-value of the best path against it (``ztest``; None for the best
    path itself) or the probability to be best (``bayes``).
    """

    winner: int | None
    scores: tuple[float | None, ...]


def decide(rule: Rule, confidence: float, samples: Sequence[Sample]) -> Verdict:
    """The verdict of ``rule`` at ``confidence`` (0.5 to 0.9999) on two or more paths' samples."""
    if len(samples) < 2:
        raise ValueError("an experiment compares two paths or more")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be from 0.5 to under 1, got {confidence!r}")
    if rule is Rule.BAYES:
        chances = best_probabilities(samples)
        top = max(range(len(samples)), key=lambda i: chances[i])
        winner = top if chances[top] >= confidence else None
        return Verdict(winner, tuple(chances))
    best = max(range(len(samples)), key=lambda i: samples[i].rate)
    alpha = (1 - confidence) / (len(samples) - 1)
    scores: list[float | None] = []
    wins = True
    for index, sample in enumerate(samples):
        if index == best:
            scores.append(None)
            continue
        p = two_proportion_p(samples[best], sample)
        scores.append(p)
        wins = wins and p < alpha and samples[best].rate > sample.rate
    return Verdict(best if wins else None, tuple(scores))


def two_proportion_p(a: Sample, b: Sample) -> float:
    """The two-sided p-value of a difference between two rates (pooled, continuity-corrected)."""
    if not a.customers or not b.customers:
        return 1.0
    pooled = (a.conversions + b.conversions) / (a.customers + b.customers)
    spread = 1 / a.customers + 1 / b.customers
    error = math.sqrt(pooled * (1 - pooled) * spread)
    if error == 0:
        return 1.0
    z = max(0.0, abs(a.rate - b.rate) - spread / 2) / error
    return 2 * (1 - STANDARD.cdf(z))


def best_probabilities(samples: Sequence[Sample]) -> list[float]:
    """Each path's probability to have the highest rate, under Beta(1 + x, 1 + n - x) posteriors.

    The posteriors are taken as normal (their mean and variance), and the probability that path
    i is best, the integral of its density times the others' distribution functions, is summed
    on a grid. Samples of a few hundred customers or more make the approximation close.
    """
    shapes = []
    for sample in samples:
        alpha, beta = 1 + sample.conversions, 1 + sample.customers - sample.conversions
        mean = alpha / (alpha + beta)
        spread = math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
        shapes.append(NormalDist(mean, spread))
    low = min(s.mean - 8 * s.stdev for s in shapes)
    high = max(s.mean + 8 * s.stdev for s in shapes)
    step = (high - low) / (GRID - 1)
    points = [low + i * step for i in range(GRID)]
    cdfs = [[shape.cdf(t) for t in points] for shape in shapes]
    found = []
    for index, shape in enumerate(shapes):
        others = [c for j, c in enumerate(cdfs) if j != index]
        total = 0.0
        for k, t in enumerate(points):
            below = 1.0
            for cdf in others:
                below *= cdf[k]
            total += shape.pdf(t) * below
        found.append(min(1.0, total * step))
    return found


def sample_size(base: float, lift: float, confidence: float = 0.95, power: float = 0.95) -> int:
    """Customers per path for the ``ztest`` rule between two paths to find ``lift`` over ``base``.

    The classical two-proportion size (Fleiss), grown for the continuity correction: with this
    many per path, a true difference of ``lift`` is found with probability ``power``.
    """
    if not 0 < base < 1 or not 0 < base + lift < 1 or lift <= 0:
        raise ValueError("base and base + lift must be rates between 0 and 1, lift above 0")
    other = base + lift
    mean = (base + other) / 2
    z_alpha = STANDARD.inv_cdf(1 - (1 - confidence) / 2)
    z_power = STANDARD.inv_cdf(power)
    plain = (
        z_alpha * math.sqrt(2 * mean * (1 - mean))
        + z_power * math.sqrt(base * (1 - base) + other * (1 - other))
    ) ** 2 / lift**2
    corrected = plain / 4 * (1 + math.sqrt(1 + 4 / (plain * lift))) ** 2
    return math.ceil(corrected)
