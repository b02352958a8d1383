"""The experiments' decision rules, against independent formulas and known cases; and an
experiment in the simulator on synthetic customers whose better path is known."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayfare.engine.handlers import draw
from wayfare.engine.simulation import SimEvent, simulate
from wayfare.model.durations import Duration
from wayfare.model.experiments import (
    Rule,
    Sample,
    best_probabilities,
    decide,
    sample_size,
    two_proportion_p,
)
from wayfare.model.states import Experiment, RandomParams, RandomPath


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


def b_beats_a(a: Sample, b: Sample) -> float:
    """P(rate B > rate A) under Beta(1 + x, 1 + n - x) posteriors: Evan Miller's exact sum."""

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    alpha_a, beta_a = 1 + a.conversions, 1 + a.customers - a.conversions
    alpha_b, beta_b = 1 + b.conversions, 1 + b.customers - b.conversions
    return sum(
        math.exp(
            log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - log_beta(1 + i, beta_b)
            - log_beta(alpha_a, beta_a)
        )
        for i in range(alpha_b)
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Sample(2000, 200), Sample(2000, 236)),
        (Sample(100, 0), Sample(1000, 28)),  # few conversions: far from normal
        (Sample(1000, 2), Sample(1000, 9)),
        (Sample(20, 0), Sample(2000, 1)),  # one wide posterior, one narrow
        (Sample(0, 0), Sample(50, 10)),
    ],
)
def test_the_probability_to_be_best_is_the_exact_one(a: Sample, b: Sample) -> None:
    found = best_probabilities([a, b])
    assert found[1] == pytest.approx(b_beats_a(a, b), abs=2e-4)
    assert sum(found) == pytest.approx(1, abs=1e-3)
    assert best_probabilities([a, a]) == pytest.approx([0.5, 0.5], abs=5e-4)


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


# -- in the simulator ----------------------------------------------------------------------------


def experiment_journey(min_sample: int) -> dict[str, Any]:
    return {
        "name": "Which push sells",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "visit", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_RANDOM",
                "params": {
                    "paths": [{"forward": 3}, {"forward": 4}],
                    "experiment": {
                        "goal": {"eventName": "purchase", "within": "P1D"},
                        "minSample": min_sample,
                    },
                },
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 2}, "forward": None},
            },
        ],
    }


def test_the_simulator_finds_the_better_path_of_synthetic_customers() -> None:
    """Path B truly converts at 30 %, path A at 10 %: B wins, and takes every later visitor."""
    rng, seed, t0 = random.Random(3), 11, datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    people = [f"c{i:04d}" for i in range(1200)]
    events: list[SimEvent] = []
    for customer_id in people[:1000]:
        events.append(SimEvent(customer_id, "visit", t0))
        b = draw(seed, 2, customer_id, 1) >= 0.5  # the engine's own draw: the truth per path
        if rng.random() < (0.30 if b else 0.10):
            events.append(SimEvent(customer_id, "purchase", t0 + timedelta(hours=2)))
    later = t0 + timedelta(days=3)
    events += [SimEvent(c, "visit", later) for c in people[1000:]]
    result = simulate(
        experiment_journey(300),
        [],
        events,
        start=t0,
        until=later + timedelta(hours=1),
        journey_id=seed,
    )
    experiment = result.experiments[2]
    assert experiment.winner == 1
    # The first whole hour after every window closed (day 1, 09:00): the check runs hourly.
    assert experiment.decided_at == t0 + timedelta(days=1)
    assert sum(experiment.drawn) == 1000  # later visitors took the winner: no draws
    assert [f.customers for f in experiment.figures] == experiment.drawn
    late = [m.state_id for m in result.messages if m.at == later]
    assert late == [4] * 200
    shown = result.to_json()["experiments"]["2"]
    assert shown["decision"]["winner"] == 1 and shown["drawn"] == experiment.drawn


def test_an_experiment_short_of_its_sample_does_not_decide_in_the_simulator() -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    events = [SimEvent(f"c{i}", "visit", t0) for i in range(100)]
    result = simulate(experiment_journey(60), [], events, start=t0, until=t0 + timedelta(days=5))
    experiment = result.experiments[2]
    assert experiment.decided_at is None and experiment.winner is None
    assert result.to_json()["experiments"]["2"]["decision"] is None


def test_a_path_of_weight_zero_takes_no_part_in_the_verdict() -> None:
    experiment = Experiment("purchase", Duration(days=1), min_sample=100)
    params = RandomParams((RandomPath(1.0, 3), RandomPath(0.0, 4), RandomPath(1.0, 5)), experiment)
    short = [Sample(1000, 100), Sample(0, 0), Sample(99, 30)]
    assert params.verdict(short) is None  # path 2 is short; path 1 does not count
    verdict = params.verdict([Sample(1000, 100), Sample(0, 0), Sample(1000, 160)])
    assert verdict is not None and verdict.winner == 2
    assert verdict.scores[1] is None and verdict.scores[2] is None and verdict.scores[0] < 0.01
