"""The autoscaler's decisions, table-driven on a fake clock (candela.scaling.decision)."""

import pytest

from candela.scaling.decision import Load, Policy, State, decide

POLICY = Policy(target=2.0, tolerance=0.1, min_workers=1, max_workers=10, stabilisation=300, cooldown=60,
                up_period=60, up_pods=4, up_factor=2.0)


def run(policy, state, loads, step=30.0):
    """Decide at 0, step, 2 step, ... for each load; return the worker counts and the last state."""
    counts = []
    for number, load in enumerate(loads):
        decision, state = decide(policy, state, load, number * step)
        counts.append(decision.workers)
    return counts, state


@pytest.mark.parametrize("workers, load, expected, reason", [
    (5, Load(10, 0), 5, "within tolerance"),
    (5, Load(6, 5), 5, "within tolerance"),  # 11 jobs: 1.1 of 5 x 2, at the tolerance
    (2, Load(40, 0), 6, "rate-limited"),  # wants 10 (bounded), +4 at most at once
    (1, Load(0, 0), 1, ""),  # never below min_workers
    (8, Load(2, 0, busy_workers=3), 8, "stabilising"),  # down waits for the window
    (2, Load(0, 2, busy_workers=4), 4, "busy"),  # never fewer than the busy workers
    (4, None, 4, "metrics missing"),
    (2, Load(2, 0, dask_wanted=7), 6, "the Dask scheduler wants 7"),  # the higher proposal, rate-limited
    (5, Load(18, 0, dask_wanted=3), 9, "18 jobs"),  # the jobs' proposal is the higher one
    (6, Load(0, 0, dask_missing=True), 6, "not scaling down"),  # a metric unread holds the count
    (2, Load(12, 0, dask_missing=True), 6, "12 jobs"),  # ... but not a rise the others want
])
def test_one_decision(workers, load, expected, reason):
    decision, _ = decide(POLICY, State(workers, wishes=((0.0, workers),)), load, 10.0)
    assert decision.workers == expected, decision
    assert reason in " ".join(decision.reasons), decision.reasons


def test_up_at_once_then_rate_limited_per_period():
    counts, _ = run(POLICY, State(2), [Load(30, 0)] * 5)
    assert counts == [6, 6, 10, 10, 10]  # +4, wait for the period, +4 capped at max_workers


def test_down_only_after_the_stabilisation_window():
    loads = [Load(20, 0)] * 3 + [Load(2, 0)] * 15  # high until 60 s, low from 90 s
    counts, _ = run(POLICY, State(10, wishes=((0.0, 10),)), loads)
    assert counts[:12] == [10] * 12  # the high wishes (last at 60 s) hold it up to 360 s
    assert counts[12] == 1 and counts[-1] == 1  # at 390 s the window holds only low wishes


def test_no_scaling_down_within_the_cooldown():
    policy = Policy(stabilisation=0, cooldown=120)
    counts, _ = run(policy, State(2), [Load(12, 0), Load(0, 0), Load(0, 0), Load(0, 0), Load(0, 0), Load(0, 0)])
    assert counts == [6, 6, 6, 6, 1, 1]  # up at 0 s; down allowed from 120 s


def test_a_flapping_load_does_not_flap_the_cluster():
    """An hour of load alternating every 30 s between a burst and nothing."""
    loads = [Load(16, 0) if n % 2 == 0 else Load(0, 0) for n in range(120)]
    counts, _ = run(POLICY, State(1), loads)
    changes = sum(1 for a, b in zip(counts, counts[1:]) if a != b)
    assert counts[-1] == 8 and changes <= 2, counts  # up (rate-limited), then held


def test_state_saved_and_restored_decides_the_same():
    loads = [Load(30, 0)] * 3 + [Load(1, 0)] * 20
    straight, _ = run(POLICY, State(2), loads)
    first, state = run(POLICY, State(2), loads[:5])
    restored = State.from_json(state.to_json())
    assert restored == state
    rest = []
    for number, load in enumerate(loads[5:], start=5):
        decision, restored = decide(POLICY, restored, load, number * 30.0)
        rest.append(decision.workers)
    assert first + rest == straight


def test_bad_policies_are_refused():
    with pytest.raises(ValueError):
        Policy(min_workers=5, max_workers=2)
    with pytest.raises(ValueError):
        Policy(target=0)


def test_dask_wanted_workers_scale_down_through_the_window_like_the_jobs():
    """The scheduler wants 8, then 1: the count follows it down only after the window."""
    loads = [Load(0, 0, dask_wanted=8)] * 2 + [Load(0, 0, dask_wanted=1)] * 14
    counts, _ = run(POLICY, State(8, wishes=((0.0, 8),)), loads)
    assert counts[:11] == [8] * 11 and counts[11:] == [1] * 5  # last wish of 8 at 30 s: down at 330 s


def test_a_missing_dask_reading_holds_without_filling_the_window():
    """Unread for 330 s, the count holds; back, it wants 1: the window holds no wish of the
    hold, so the count falls at once (its last real wish, 6 at 0 s, has left the window)."""
    loads = [Load(0, 0, dask_missing=True)] * 12 + [Load(0, 0, dask_wanted=1)] * 2
    counts, state = run(POLICY, State(6, wishes=((0.0, 6),)), loads)
    assert counts[:12] == [6] * 12 and counts[12:] == [1, 1], counts
    assert all(w == 1 for _, w in state.wishes)
