"""A simulated day of jobs on the autoscaler and on fixed clusters (candela.scaling.simulation)."""

from dataclasses import replace

import numpy as np
import pytest

from candela.scaling.simulation import DAY, POLICY, Cluster, Day, _Run, arrivals, compare, simulate, table

CLUSTER = Cluster(slots=4, startup=120.0, interval=15.0)


@pytest.fixture(scope="module")
def day_runs():
    """The autoscaler, a fixed cluster of its peak and one of its mean size, on one seeded day."""
    return compare(7, Day(), POLICY, CLUSTER)


def flapping(seed, busy=20, duration=45.0):
    """A day whose arrivals alternate every 60 s between ``busy`` jobs a minute and none."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(0, DAY, 120.0)  # the start of each busy minute
    times = np.sort((minutes[:, None] + rng.uniform(0, 60, (minutes.size, busy))).ravel())
    return times, np.full(times.size, duration)


def concurrency(figures, durations):
    """The most jobs running at once, from the jobs' starts and durations."""
    starts = np.asarray(figures.starts)
    edges = np.concatenate([np.stack([starts, np.ones_like(starts)], 1),
                            np.stack([starts + durations, -np.ones_like(starts)], 1)])
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]  # at a tie, a job ends before the next starts
    return int(np.cumsum(edges[:, 1]).max())


def test_same_seed_same_figures_other_seed_other_arrivals(day_runs):
    assert compare(7, Day(), POLICY, CLUSTER) == day_runs
    first, second = arrivals(7), arrivals(8)
    assert first[0].size != second[0].size or not np.array_equal(first[0], second[0])
    assert np.array_equal(arrivals(7)[1], first[1])


def test_arrivals_follow_the_profile():
    times, durations = arrivals(3)
    hours = np.histogram(times, bins=24, range=(0, DAY))[0]
    assert hours[2] < hours[10] < hours[12]  # quiet night, working hours, midday burst
    assert np.all(np.diff(times) >= 0) and times.min() >= 0 and times.max() < DAY
    assert np.median(durations) == pytest.approx(Day().median_duration, rel=0.1)


def test_every_job_finishes_and_none_is_lost(day_runs):
    times, durations = arrivals(7)
    # Two workers (8 slots) carry less than the day's mean load (about 11 jobs running at once):
    # the queue is still long at midnight, and the run goes on until it has drained.
    overloaded = simulate(times, durations, cluster=CLUSTER, fixed=2)
    assert overloaded.hours > 26
    for run in day_runs + [overloaded]:
        starts = np.asarray(run.starts)
        assert run.finished == run.jobs == times.size, run.label
        assert np.all(starts >= times), run.label
        assert np.all(np.diff(starts) >= 0), run.label  # FIFO: served in the order of arrival
        assert np.all(starts + durations <= run.hours * 3600 + 1e-6), run.label
        assert run.violations == [], run.label


def test_a_worker_runs_at_most_its_slots():
    times, durations = arrivals(5)
    for fixed in (3, 8):
        figures = simulate(times, durations, cluster=CLUSTER, fixed=fixed)
        assert concurrency(figures, durations) == fixed * CLUSTER.slots  # saturated by the burst, never more


@pytest.mark.parametrize("policy", [POLICY, replace(POLICY, min_workers=2, max_workers=6),
                                    replace(POLICY, stabilisation=0.0, cooldown=0.0, target=1.0)])
def test_the_autoscaler_keeps_its_bounds_and_never_removes_a_busy_worker(policy):
    """Instrumented: the run records any count outside the bounds and any busy worker removed."""
    times, durations = arrivals(11)
    figures = simulate(times, durations, policy, CLUSTER)
    assert figures.violations == []
    assert policy.min_workers <= figures.peak_workers <= policy.max_workers
    assert figures.scale_downs > 0  # the night after the day does remove workers
    if policy.max_workers == 6:
        assert figures.peak_workers == 6  # overloaded at midday: held at the maximum


def test_the_instrumentation_sees_a_busy_worker_removed():
    """The check the test above relies on does fire: asked to remove more workers than are idle."""
    run = _Run(np.array([0.0, 0.0]), np.array([100.0, 100.0]), Cluster(slots=1), None, 2)
    run.queue.extend([0, 1])  # both jobs arrived: each of the two workers runs one
    run.dispatch()
    assert all(worker.running == 1 for worker in run.workers)
    run.remove(1)
    assert run.violations and len(run.workers) == 2


def test_a_flapping_load_does_not_flap_the_cluster():
    times, durations = flapping(1)
    steady = simulate(times, durations, POLICY, CLUSTER)
    assert steady.violations == []
    assert steady.per_hour(steady.scale_downs) <= 3600 / POLICY.stabilisation + 1
    # Without the window and the cooldown the same load does flap: the bound above is not free.
    jumpy = simulate(times, durations, replace(POLICY, stabilisation=0.0, cooldown=0.0), CLUSTER)
    assert jumpy.violations == []
    assert jumpy.per_hour(jumpy.scale_downs) > 3 * (3600 / POLICY.stabilisation + 1)


def test_the_autoscaler_saves_idle_time_and_keeps_waits_short(day_runs):
    scaled, peak, mean = day_runs
    assert peak.peak_workers == scaled.peak_workers and mean.peak_workers == round(scaled.mean_workers)
    assert scaled.worker_hours == pytest.approx(mean.worker_hours, rel=0.15)  # about the same cost...
    assert scaled.wait_p95 < mean.wait_p95 / 10  # ...far shorter waits than that fixed cluster
    assert scaled.wait_max <= CLUSTER.startup + 2 * CLUSTER.interval + 60  # at most about a boot
    assert scaled.idle_worker_hours < peak.idle_worker_hours / 4  # and far less idle than the peak's
    assert peak.wait_p95 <= scaled.wait_p95  # the peak-sized cluster bounds the waits from below


def test_littles_law(day_runs):
    """Busy job-slots on average = arrival rate x mean duration: the profile's, not the sample's."""
    day = Day()
    for run in day_runs:
        busy_slot_seconds = run.mean_busy_slots * run.hours * 3600
        assert busy_slot_seconds == pytest.approx(day.expected_jobs() * day.mean_duration(), rel=0.06), run.label


def test_table_lists_each_run(day_runs):
    text = table(day_runs, seed=7)
    assert text.count("\n") == 1 + len(day_runs)
    assert "autoscaled" in text and "autoscaler's peak" in text and "autoscaler's mean" in text
