"""The lr multiplier: warmup then cosine, over a step count or over a time budget (train.max_minutes)."""

import pytest

from rpsdet.train.loop import TrainConfig
from rpsdet.train.schedule import TimeBudget, warmup_cosine


def test_step_schedule_warms_up_then_decays_to_its_floor():
    factors = [warmup_cosine(s, 100, 10, 0.05) for s in range(120)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[100] == pytest.approx(0.05) and factors[119] == pytest.approx(0.05)


def test_time_budget_follows_the_clock_and_ends_at_its_floor():
    budget = TimeBudget(minutes=2, warmup_steps=10, min_ratio=0.05)
    assert budget.seconds == 120 and not budget.exhausted
    assert budget.lr_factor(0) == pytest.approx(0.1)  # warmup counts steps
    budget.spent_s = 60.0  # half the budget: cosine halfway, whatever the step number
    assert budget.lr_factor(500) == pytest.approx(0.05 + 0.95 * 0.5)
    assert budget.lr_factor(3) == pytest.approx(0.4)  # still warming up: the lower of ramp and cosine
    factors = []
    for spent in range(0, 121, 10):
        budget.spent_s = float(spent)
        factors.append(budget.lr_factor(1000))
    assert all(a > b for a, b in zip(factors, factors[1:]))
    assert budget.exhausted and budget.left_s == 0 and factors[-1] == pytest.approx(0.05)
    budget.spent_s = 130.0  # the last step overshoots: the floor holds
    assert budget.lr_factor(1001) == pytest.approx(0.05)


def test_max_minutes_is_checked():
    assert TrainConfig.from_params({"max_minutes": None}).max_minutes is None
    assert TrainConfig.from_params({"max_minutes": 0}).max_minutes == 0  # 0 = off, like null
    with pytest.raises(ValueError, match="train.max_minutes is a time budget"):
        TrainConfig.from_params({"max_minutes": -5})
    with pytest.raises(ValueError, match="minutes > 0"):
        TimeBudget(0, 10, 0.05)
