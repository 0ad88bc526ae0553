"""A simulated day of jobs, run against the autoscaler and against fixed-size clusters.

A discrete-event simulation with no clock of its own: seeded job arrivals over a day (a
non-homogeneous Poisson process following :class:`Day`, a daily profile), lognormal job
durations, workers of ``slots`` jobs each fed from one FIFO queue, new workers ready only after
``startup`` seconds (a VM boot), and a monitor deciding every ``interval`` seconds with
:func:`candela.scaling.decision.decide`. Arrivals stop at the end of the day; the run goes on
until every job has finished, so none is lost and the waits of the last ones count.

:func:`simulate` runs one cluster over given arrivals and returns its :class:`Figures`;
:func:`compare` runs the autoscaler and fixed clusters of its peak and mean size over the same
arrivals; :func:`table` writes them as markdown. Same seed, same figures.
"""

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from candela.scaling.decision import Load, Policy, State, decide

DAY = 86400.0
HOUR = 3600.0

# Events at the same instant: a finished job frees its slot before a worker comes up, before a
# new job is queued, before the monitor measures; so the monitor sees the settled state.
FINISH, READY, ARRIVE, TICK = range(4)


@dataclass(frozen=True)
class Day:
    """The daily profile of arrivals (jobs per hour) and of job durations."""

    night: float = 20.0  # jobs per hour before the morning ramp
    day: float = 300.0  # jobs per hour in working hours
    burst: float = 900.0  # jobs per hour in the midday burst
    ramp: tuple = (6.0, 9.0)  # hours: night rises linearly to day
    burst_hours: tuple = (12.0, 13.0)
    evening: float = 18.0  # hour from which the day rate decays back to the night rate
    tail: float = 2.0  # hours: the decay's time constant
    median_duration: float = 180.0  # seconds, as a ChangeDetect job
    sigma: float = 0.6  # of the duration's logarithm

    def rate(self, seconds):
        """Jobs per hour at ``seconds`` into the day (an array in, an array out)."""
        hours = np.asarray(seconds, dtype=float) / HOUR
        start, end = self.ramp
        morning = self.night + (self.day - self.night) * np.clip((hours - start) / (end - start), 0, 1)
        evening = self.night + (self.day - self.night) * np.exp(-np.maximum(hours - self.evening, 0) / self.tail)
        rate = np.where(hours < self.evening, morning, evening)
        in_burst = (hours >= self.burst_hours[0]) & (hours < self.burst_hours[1])
        return np.where(in_burst, self.burst, rate)

    def peak_rate(self):
        """An upper bound of :meth:`rate`, for thinning."""
        return max(self.night, self.day, self.burst)

    def expected_jobs(self):
        """The mean number of arrivals in the day: the rate integrated, per second of the day."""
        seconds = np.arange(0.5, DAY, 1.0)
        return float(self.rate(seconds).sum() / HOUR)

    def mean_duration(self):
        """The mean of the lognormal duration (seconds)."""
        return self.median_duration * math.exp(self.sigma ** 2 / 2)


@dataclass(frozen=True)
class Cluster:
    """How workers behave: jobs each runs at once, boot time, the monitor's period."""

    slots: int = 4
    startup: float = 120.0
    interval: float = 15.0


# Each worker meant to carry 3 of its 4 slots; a day's peak fits within 20 workers.
POLICY = Policy(target=3.0, tolerance=0.1, min_workers=1, max_workers=20, stabilisation=300.0, cooldown=60.0,
                up_period=60.0, up_pods=4, up_factor=2.0)


@dataclass
class Figures:
    """One run's figures; ``violations`` lists any broken invariant (none expected)."""

    label: str
    jobs: int
    finished: int
    wait_mean: float
    wait_p50: float
    wait_p95: float
    wait_max: float
    hours: float  # the run's length: the day, or longer while the queue drains
    scale_events: int
    scale_ups: int
    scale_downs: int
    worker_hours: float
    idle_worker_hours: float
    mean_workers: float
    peak_workers: int
    mean_busy_slots: float
    violations: list = field(default_factory=list)
    starts: tuple = field(default=(), repr=False)  # each job's start (s), in the order of arrival

    def per_hour(self, count):
        """A count over the run, per hour."""
        return count / self.hours


def arrivals(seed, day=Day()):
    """``(times, durations)`` of a day's jobs, in seconds, sorted by time: thinned Poisson arrivals."""
    rng = np.random.default_rng(seed)
    peak = day.peak_rate()
    candidates = np.sort(rng.uniform(0, DAY, rng.poisson(peak * DAY / HOUR)))
    # Thinning: a homogeneous process at the peak rate, each arrival kept with rate(t) / peak.
    kept = candidates[rng.uniform(0, 1, candidates.size) < day.rate(candidates) / peak]
    durations = rng.lognormal(math.log(day.median_duration), day.sigma, kept.size)
    return kept, durations


class _Worker:
    """A worker: when it is ready, how many jobs it runs, whether it is still there."""

    __slots__ = ("number", "ready_at", "running", "alive")

    def __init__(self, number, ready_at):
        self.number, self.ready_at, self.running, self.alive = number, ready_at, 0, True


class _Run:
    """The simulation's mutable state and its event handlers."""

    def __init__(self, times, durations, cluster, policy, fixed):
        self.times, self.durations, self.cluster, self.policy = times, durations, cluster, policy
        self.events, self.sequence = [], 0
        self.queue = []  # job numbers, FIFO (a list and a head index: cheap pops)
        self.head = 0
        self.workers, self.numbered = [], 0
        self.starts = np.full(len(times), np.nan)
        self.finished, self.last_finish = 0, 0.0
        self.now = 0.0
        self.worker_seconds = self.idle_seconds = self.slot_seconds = 0.0
        self.peak = 0
        self.ups = self.downs = 0
        self.violations = []
        for job, at in enumerate(times):
            self.push(at, ARRIVE, job)
        if policy is None:
            self.add(fixed, ready_at=0.0)
        else:
            self.add(policy.min_workers, ready_at=0.0)  # the cluster exists at midnight
            self.state = State(policy.min_workers)
            self.push(0.0, TICK, None)

    def push(self, at, kind, payload):
        """Schedule an event; the sequence number keeps ties in the order they were pushed."""
        heapq.heappush(self.events, (at, kind, self.sequence, payload))
        self.sequence += 1

    def add(self, count, ready_at):
        """Start ``count`` workers, ready at ``ready_at``."""
        for _ in range(count):
            worker = _Worker(self.numbered, ready_at)
            self.numbered += 1
            self.workers.append(worker)
            if ready_at > self.now:
                self.push(ready_at, READY, worker)
        self.peak = max(self.peak, len(self.workers))

    def remove(self, count):
        """Stop ``count`` idle workers: booting ones first, then the newest (the others keep the work)."""
        idle = [w for w in self.workers if w.running == 0]
        idle.sort(key=lambda w: (w.ready_at <= self.now, -w.number))
        if len(idle) < count:
            self.violations.append(f"{self.now:.0f} s: {count} to remove, only {len(idle)} idle")
        for worker in idle[:count]:
            if worker.running:  # cannot happen by the above; checked so that a test would see it
                self.violations.append(f"{self.now:.0f} s: removed busy worker {worker.number}")
            worker.alive = False
        self.workers = [w for w in self.workers if w.alive]

    def advance(self, to):
        """Integrate worker, idle and busy-slot time up to ``to``."""
        span = to - self.now
        if span > 0:
            self.worker_seconds += span * len(self.workers)
            self.idle_seconds += span * sum(1 for w in self.workers if w.running == 0)
            self.slot_seconds += span * sum(w.running for w in self.workers)
            self.now = to

    def dispatch(self):
        """Give queued jobs to free slots, oldest worker first.

        Filling the oldest workers first leaves the newest idle, so a scale-down finds idle
        workers to remove, as a queue whose workers pull work when free tends to.
        """
        for worker in self.workers:
            if self.head == len(self.queue):
                return
            if worker.ready_at > self.now:
                continue
            while worker.running < self.cluster.slots and self.head < len(self.queue):
                job = self.queue[self.head]
                self.head += 1
                worker.running += 1
                self.starts[job] = self.now
                self.push(self.now + self.durations[job], FINISH, (worker, job))

    def tick(self):
        """The monitor: measure, decide, apply, and check the decision's bounds."""
        ready = [w for w in self.workers if w.ready_at <= self.now]
        load = Load(accepted=len(self.queue) - self.head, running=sum(w.running for w in ready),
                    busy_workers=sum(1 for w in ready if w.running))
        decision, self.state = decide(self.policy, self.state, load, self.now)
        if decision.change > 0:
            self.ups += 1
            self.add(decision.change, ready_at=self.now + self.cluster.startup)
        elif decision.change < 0:
            self.downs += 1
            self.remove(-decision.change)
        count = len(self.workers)
        if not self.policy.min_workers <= count <= self.policy.max_workers:
            self.violations.append(f"{self.now:.0f} s: {count} workers, outside the policy's bounds")
        if count != decision.workers:
            self.violations.append(f"{self.now:.0f} s: {count} workers, {decision.workers} decided")
        self.push(self.now + self.cluster.interval, TICK, None)

    def run(self):
        """Process events until the day is over and every job has finished."""
        while self.events:
            at = self.events[0][0]
            if at >= DAY and self.finished == len(self.times):
                break
            at, kind, _, payload = heapq.heappop(self.events)
            self.advance(at)
            if kind == FINISH:
                worker, job = payload
                worker.running -= 1
                self.finished += 1
                self.last_finish = at
            elif kind == ARRIVE:
                self.queue.append(payload)
            elif kind == READY and not payload.alive:
                continue  # removed while booting
            if kind == TICK:
                self.tick()
            self.dispatch()
        self.advance(max(DAY, self.last_finish))


def simulate(times, durations, policy=POLICY, cluster=Cluster(), fixed=None, label=None):
    """Run the jobs ``(times, durations)`` on the autoscaler (``policy``) or on ``fixed`` workers."""
    run = _Run(np.asarray(times, float), np.asarray(durations, float), cluster,
               None if fixed is not None else policy, fixed)
    run.run()
    waits = run.starts - run.times
    started = waits[~np.isnan(waits)]
    if started.size < len(waits):
        run.violations.append(f"{len(waits) - started.size} jobs never started")
    hours = run.now / HOUR
    quantile = (lambda q: float(np.percentile(started, q))) if started.size else (lambda q: 0.0)
    return Figures(
        label=label or (f"fixed {fixed}" if fixed is not None else "autoscaled"),
        jobs=len(waits), finished=run.finished,
        wait_mean=float(started.mean()) if started.size else 0.0,
        wait_p50=quantile(50), wait_p95=quantile(95), wait_max=quantile(100),
        hours=hours, scale_events=run.ups + run.downs, scale_ups=run.ups, scale_downs=run.downs,
        worker_hours=run.worker_seconds / HOUR, idle_worker_hours=run.idle_seconds / HOUR,
        mean_workers=run.worker_seconds / run.now, peak_workers=run.peak,
        mean_busy_slots=run.slot_seconds / run.now, violations=run.violations, starts=tuple(run.starts.tolist()))


def compare(seed, day=Day(), policy=POLICY, cluster=Cluster()):
    """The autoscaler, then fixed clusters of its peak and of its mean size, on the same day."""
    times, durations = arrivals(seed, day)
    scaled = simulate(times, durations, policy, cluster)
    peak = simulate(times, durations, cluster=cluster, fixed=scaled.peak_workers,
                    label=f"fixed {scaled.peak_workers} (autoscaler's peak)")
    mean_size = max(1, round(scaled.mean_workers))
    mean = simulate(times, durations, cluster=cluster, fixed=mean_size, label=f"fixed {mean_size} (autoscaler's mean)")
    return [scaled, peak, mean]


def table(rows, seed=None):
    """The figures as a markdown table, one row per run."""
    lines = ["| seed | cluster | jobs | wait mean / p50 / p95 / max (s) | scale events/h (up / down) "
             "| worker-hours | idle worker-hours | peak workers |",
             "|---:|---|---:|---|---|---:|---:|---:|"]
    for row in rows:
        events = (f"{row.per_hour(row.scale_events):.2f} ({row.per_hour(row.scale_ups):.2f} / "
                  f"{row.per_hour(row.scale_downs):.2f})") if row.label == "autoscaled" else "-"
        lines.append(f"| {'' if seed is None else seed} | {row.label} | {row.jobs} | {row.wait_mean:.1f} / "
                     f"{row.wait_p50:.1f} / {row.wait_p95:.1f} / {row.wait_max:.1f} | {events} | "
                     f"{row.worker_hours:.1f} | {row.idle_worker_hours:.1f} | {row.peak_workers} |")
    return "\n".join(lines)
