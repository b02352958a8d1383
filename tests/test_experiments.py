"""The experiments' decision rules, against independent formulas and known cases."""

from __future__ import annotations

import math
import random

import pytest

from wayfare.model.experiments import (
    Rule,
    Sample,
    best_probabilities,
    decide,
    sample_size,
    two_proportion_p,
)


def yates_chi_square_p(a: Sample, b: Sample) -> float:
    """The p-value of Pearson's chi-square with Yates' correction on the 2x2 table."""
    table = [
        [a.conversions, a.customers - a.conversions],
        [b.conversions, b.customers - b.conversions],
    ]
    total = a.customers + b.customers
    columns = [table[0][0] + table[1][0], table[0][1] + table[1][1]]
    rows = [a.customers, b.customers]
    chi = sum(
        (abs(table[r][c] - rows[r] * columns[c] / total) - 0.5) ** 2
        / (rows[r] * columns[c] / total)
        for r in range(2)
        for c in range(2)
    )
    return math.erfc(math.sqrt(chi / 2))  # the chi-square survival function at one degree


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Sample(1000, 100), Sample(1000, 140)),
        (Sample(6458, 646), Sample(6458, 775)),
        (Sample(300, 12), Sample(500, 31)),
    ],
)
def test_the_z_test_is_the_corrected_chi_square(a: Sample, b: Sample) -> None:
    assert two_proportion_p(a, b) == pytest.approx(yates_chi_square_p(a, b), rel=1e-9)


def test_the_z_test_picks_a_clear_winner_and_no_winner_in_a_tie() -> None:
    clear = decide(Rule.ZTEST, 0.95, [Sample(1000, 100), Sample(1000, 140)])
    assert clear.winner == 1 and clear.scores[1] is None and clear.scores[0] < 0.01
    tie = decide(Rule.ZTEST, 0.95, [Sample(1000, 120), Sample(1000, 120)])
    assert tie.winner is None
    close = decide(Rule.ZTEST, 0.95, [Sample(1000, 100), Sample(1000, 120)])
    assert close.winner is None  # p about 0.18


def test_with_three_paths_the_best_must_beat_both_others() -> None:
    samples = [Sample(5000, 500), Sample(5000, 590), Sample(5000, 600)]
    verdict = decide(Rule.ZTEST, 0.95, samples)
    assert verdict.winner is None  # 2 beats 0, not 1
    assert decide(Rule.ZTEST, 0.95, [*samples[:2], Sample(5000, 700)]).winner == 2


def test_the_probability_to_be_best_matches_the_closed_form_for_two() -> None:
    a, b = Sample(2000, 200), Sample(2000, 236)
    found = best_probabilities([a, b])

    def posterior(s: Sample) -> tuple[float, float]:
        alpha, beta = 1 + s.conversions, 1 + s.customers - s.conversions
        return alpha / (alpha + beta), alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))

    (ma, va), (mb, vb) = posterior(a), posterior(b)
    closed = 0.5 * math.erfc(-(mb - ma) / math.sqrt(2 * (va + vb)))
    assert found[1] == pytest.approx(closed, abs=1e-6)
    assert sum(found) == pytest.approx(1, abs=1e-6)
    assert best_probabilities([a, a]) == pytest.approx([0.5, 0.5], abs=1e-6)


def test_the_bayes_rule_wants_the_probability_it_is_given() -> None:
    samples = [Sample(2000, 200), Sample(2000, 236)]  # B best with probability about 0.96
    assert decide(Rule.BAYES, 0.95, samples).winner == 1
    assert decide(Rule.BAYES, 0.975, samples).winner is None


def test_sample_sizes_grow_as_the_lift_shrinks_and_give_the_power_they_promise() -> None:
    assert sample_size(0.10, 0.02) == 6458
    assert sample_size(0.10, 0.01) > sample_size(0.10, 0.02) > sample_size(0.10, 0.05)
    assert sample_size(0.10, 0.02, power=0.8) < sample_size(0.10, 0.02)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sample_size(0.99, 0.02)
    # Power by simulation with normal draws (cheap): about 95 % of 2,000 experiments find it.
    rng, n = random.Random(7), sample_size(0.10, 0.02)
    found = 0
    for _ in range(2000):
        a = round(rng.gauss(n * 0.10, math.sqrt(n * 0.10 * 0.90)))
        b = round(rng.gauss(n * 0.12, math.sqrt(n * 0.12 * 0.88)))
        found += decide(Rule.ZTEST, 0.95, [Sample(n, a), Sample(n, b)]).winner == 1
    assert 0.93 < found / 2000 < 0.97


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="two paths or more"):
        decide(Rule.ZTEST, 0.95, [Sample(10, 1)])
    with pytest.raises(ValueError, match="confidence"):
        decide(Rule.ZTEST, 1.0, [Sample(10, 1), Sample(10, 2)])
