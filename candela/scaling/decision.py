"""How many workers the load wants, decided the way Kubernetes' Horizontal Pod Autoscaler does.

A pure function (:func:`decide`): the policy, the state kept between decisions, the load just
measured and the time in; the decision and the next state out. No I/O, no clock of its own, so
decisions replay exactly in tests and simulations, and the state (:meth:`State.to_json`) can be
saved by the monitor and survive its restart.

- **Ratio to a target.** The load is the jobs accepted plus running; each worker is meant to
  carry ``target`` of them (its slots times a target utilisation). The raw wish is
  ``ceil(load / target)``, as HPA's ``ceil(current * metric / target)`` with the metric per
  worker. Within ``tolerance`` of the current ratio nothing changes.
- **Bounds.** Between ``min_workers`` and ``max_workers``; never below the workers that are busy
  (running a job): removing one would kill its job.
- **Up at once, rate-limited.** A higher wish applies at once, up to ``max(start + up_pods,
  start * up_factor)`` workers, ``start`` being the count ``up_period`` seconds before.
- **Down slowly.** The applied wish is the highest of the last ``stabilisation`` seconds (HPA's
  scale-down stabilisation window), and nothing goes down within ``cooldown`` seconds of the
  last change: a load that flaps does not flap the cluster.
- **Several metrics.** With a Dask scheduler read too, its adaptive target (the workers its
  tasks want) is a second proposal, and the higher one wins, as HPA does with several metrics.
  When that reading is missing, the jobs may still scale the cluster up, never down (HPA too).
- **Holding.** With metrics missing (the store unreachable), the count stays as it is.
"""

import json
import math
from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Policy:
    """What the operator asks of the autoscaler."""

    target: float = 2.0  # jobs (accepted + running) per worker
    tolerance: float = 0.1
    min_workers: int = 1
    max_workers: int = 10
    stabilisation: float = 300.0
    cooldown: float = 60.0
    up_period: float = 60.0
    up_pods: int = 4
    up_factor: float = 2.0

    def __post_init__(self):
        if self.target <= 0 or not 0 <= self.tolerance < 1:
            raise ValueError("target must be positive and tolerance in [0, 1)")
        if not 0 <= self.min_workers <= self.max_workers:
            raise ValueError("0 <= min_workers <= max_workers is needed")


@dataclass(frozen=True)
class Load:
    """What was measured: jobs waiting and running, workers busy with a job, and the workers a
    Dask scheduler wants (None: no scheduler read; ``dask_missing``: one was to be read, and
    could not be)."""

    accepted: int
    running: int
    busy_workers: int = 0
    dask_wanted: int = None
    dask_missing: bool = False


@dataclass(frozen=True)
class State:
    """What the autoscaler remembers: the workers it has, its recent wishes, its last changes."""

    workers: int
    wishes: tuple = ()  # (time, wish) of the stabilisation window
    changed_at: float = None
    ups: tuple = ()  # (time, workers added) within the up period

    def to_json(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        return cls(data["workers"], tuple(map(tuple, data["wishes"])), data["changed_at"], tuple(map(tuple, data["ups"])))


@dataclass(frozen=True)
class Decision:
    """The number of workers wanted, and why (for the log, as JSON)."""

    workers: int
    previous: int
    reasons: list = field(default_factory=list)

    @property
    def change(self):
        return self.workers - self.previous


def raw_wish(policy, state, load):
    """The highest proposal of the metrics, and why: the jobs' (:func:`jobs_wish`) and the Dask
    scheduler's wanted workers when read."""
    wish, why = jobs_wish(policy, state, load)
    if load.dask_wanted is not None and load.dask_wanted > wish:
        return load.dask_wanted, f"the Dask scheduler wants {load.dask_wanted} workers ({why}: {wish})"
    return wish, why


def jobs_wish(policy, state, load):
    """HPA's ratio: ``ceil(load / target)``, or the current count within the tolerance."""
    demand = load.accepted + load.running
    if state.workers > 0 and abs(demand / (state.workers * policy.target) - 1) <= policy.tolerance + 1e-9:
        return state.workers, "within tolerance of the target"
    return math.ceil(demand / policy.target), f"{demand} jobs at {policy.target:g} per worker"


def decide(policy, state, load, now):
    """``(Decision, next State)`` for ``load`` measured at ``now`` (seconds); ``load`` None: hold."""
    if load is None:
        return Decision(state.workers, state.workers, ["metrics missing: holding"]), state
    wish, why = raw_wish(policy, state, load)
    reasons = [why]
    held = load.dask_missing and wish < state.workers
    if held:
        # A metric unread might be the one that keeps the workers busy: no scaling down on the
        # others. Nor is the count held a wish: once the reading is back, the window decides.
        reasons.append("the Dask scheduler's wanted workers missing: not scaling down")
        wish = state.workers
    floor = max(policy.min_workers, load.busy_workers)
    if wish < load.busy_workers:
        reasons.append(f"{load.busy_workers} workers are busy")
    wish = min(max(wish, floor), max(policy.max_workers, floor))
    wishes = tuple((t, w) for t, w in state.wishes if t > now - policy.stabilisation) + (() if held else ((now, wish),))
    stable = max((w for _, w in wishes), default=wish)  # the highest wish of the window: down only once it has passed
    target = state.workers
    if wish > state.workers:
        # As HPA: the limit is relative to the count at the start of the period.
        start = state.workers - sum(n for t, n in state.ups if t > now - policy.up_period)
        limit = max(start + policy.up_pods, math.ceil(start * policy.up_factor))
        target = max(state.workers, min(wish, limit))
        if target < wish:
            reasons.append(f"up rate-limited to {limit} workers until {policy.up_period:g} s after the last rise")
    elif stable < state.workers:
        if state.changed_at is not None and now - state.changed_at < policy.cooldown:
            reasons.append(f"cooling down: changed {now - state.changed_at:g} s ago")
        else:
            target = stable
            if stable > wish:
                reasons.append(f"down to the highest wish of the last {policy.stabilisation:g} s")
    elif wish < state.workers:
        reasons.append(f"stabilising: a wish of {stable} within the last {policy.stabilisation:g} s")
    if load.busy_workers > target:  # even a rate limit does not take a busy worker's job away
        target = load.busy_workers
    added = target - state.workers
    next_state = replace(
        state, workers=target, wishes=wishes,
        changed_at=now if added else state.changed_at,
        ups=tuple((t, n) for t, n in state.ups if t > now - policy.up_period) + (((now, added),) if added > 0 else ()))
    return Decision(target, state.workers, reasons), next_state
