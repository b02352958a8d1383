"""Deciding an experiment: which path of a ``FLOW_RANDOM`` converts best, if any, and how sure.

Pure functions of the figures (customers and conversions per path). An experiment decides once,
when every path has its minimum sample: a fixed-horizon test, so that looking again and again
does not turn noise into a winner. Two rules:

- ``ztest``: the best observed path against each other one, a two-sided two-proportion z-test
  with continuity correction (Yates), at ``1 - confidence`` split evenly over the comparisons
  (Bonferroni). A winner only if it beats every other path.
- ``bayes``: each path's rate has a Beta(1 + conversions, 1 + failures) posterior; the winner is
  the path whose probability to be best (integrated numerically) reaches ``confidence``. With
  two paths and no true difference this picks one in about ``2 (1 - confidence)`` of
  experiments: ask 0.975 for 5 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

STANDARD = NormalDist()
GRID = 401
"""Points each posterior adds to the grid of the probability to be best."""


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
    """The verdict of ``rule`` at ``confidence`` (over 0.5, under 1) on two or more paths."""
    if len(samples) < 2:
        raise ValueError("an experiment compares two paths or more")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be over 0.5 and under 1, got {confidence!r}")
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

    The probability that path i is best is the integral of its density times the other paths'
    distribution functions; both are summed (trapezoids) on a grid that is dense wherever one of
    the posteriors has its mass, so that a narrow posterior is measured as well as a wide one.
    """
    shapes = [(1.0 + s.conversions, 1.0 + s.customers - s.conversions) for s in samples]
    points = {0.0, 1.0}
    for a, b in shapes:
        mean = a / (a + b)
        spread = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        low, high = max(0.0, mean - 12 * spread), min(1.0, mean + 12 * spread)
        points.update(low + (high - low) * i / (GRID - 1) for i in range(GRID))
    grid = sorted(points)
    densities = [[_beta_pdf(t, a, b) for t in grid] for a, b in shapes]
    cdfs = []
    for density in densities:
        total, running = 0.0, [0.0]
        for k in range(1, len(grid)):
            total += (density[k] + density[k - 1]) * (grid[k] - grid[k - 1]) / 2
            running.append(total)
        cdfs.append([value / total for value in running])
    found = []
    for index, density in enumerate(densities):
        others = [c for j, c in enumerate(cdfs) if j != index]
        values = []
        for k in range(len(grid)):
            below = 1.0
            for cdf in others:
                below *= cdf[k]
            values.append(density[k] * below)
        mass = sum(
            (density[k] + density[k - 1]) * (grid[k] - grid[k - 1]) / 2 for k in range(1, len(grid))
        )
        area = sum(
            (values[k] + values[k - 1]) * (grid[k] - grid[k - 1]) / 2 for k in range(1, len(grid))
        )
        found.append(min(1.0, area / mass))
    return found


def _beta_pdf(t: float, a: float, b: float) -> float:
    """The Beta(a, b) density at ``t`` (a, b >= 1), from log-gamma."""
    if t <= 0.0:
        return math.exp(-_log_beta(a, b)) if a == 1.0 else 0.0
    if t >= 1.0:
        return math.exp(-_log_beta(a, b)) if b == 1.0 else 0.0
    return math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - _log_beta(a, b))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


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
