"""Drift: how users' true interests change, iteration after iteration.

Step 1 of every iteration (drift → slates → metrics → clicks → learning). Each
process in a scenario's ``[[drift]]`` list becomes one :class:`DriftProcess`;
they are applied in file order. Exogenous processes (gradual, directed, abrupt,
periodic, satiation's recovery) draw only from keyed streams, so every recommender
of a seed faces the same trajectories; endogenous ones (consumption, satiation's
build-up) react to clicks in :meth:`DriftProcess.after_clicks`. Every discrete
change is recorded as a :class:`DriftEvent` with its onset and affected users —
the input of the adaptation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.population import Population
from sim.random import KeyedStream
from sim.scenario import (
    AbruptShift,
    ConsumptionDrift,
    DirectedDrift,
    DriftSpec,
    GradualDrift,
    PeriodicDrift,
    SatiationDrift,
)


@dataclass(frozen=True)
class DriftEvent:
    """A change of interests that the adaptation metrics align on.

    ``onset`` is the first iteration whose slates are served under the changed
    interests; ``end`` equals ``onset`` for abrupt changes.
    """

    event_id: int
    kind: str
    onset: int
    end: int
    users: np.ndarray = field(repr=False)
    process: int = 0


def normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norm > 0, norm, 1.0)).astype(np.float32)


class DriftProcess:
    """Base class: override :meth:`advance` (exogenous) and/or :meth:`after_clicks`."""

    kind = "none"

    def __init__(self, spec: DriftSpec, index: int, stream: KeyedStream, centres: np.ndarray):
        self.spec, self.index, self.stream, self.centres = spec, index, stream, centres

    def advance(self, pop: Population, t: int, present: np.ndarray) -> list[tuple[str, int, int, np.ndarray]]:
        """Move interests for iteration ``t``; return (kind, onset, end, users) of new events."""
        return []

    def after_clicks(self, pop: Population, users: np.ndarray, item_vectors: np.ndarray, t: int) -> None:
        """React to this iteration's clicks (``users[i]`` clicked an item with vector ``item_vectors[i]``)."""

    def _selected(self, ids: np.ndarray, fraction: float) -> np.ndarray:
        """A fixed, seed-determined subset of ``ids`` of the given expected share."""
        if fraction >= 1.0:
            return ids
        return ids[self.stream.uniform(ids, tick=0, salt=7)[:, 0] < fraction]

    def _target_centres(self, ids: np.ndarray, t: int, common: bool) -> np.ndarray:
        """A category centre per user: one shared (common) or each user's own draw.

        A shared target is the category with the smallest audience (audiences are
        Zipf-ordered, category 0 the largest): a niche going mainstream — a change of
        taste away from what the system has learned, which is what the scenario studies.
        """
        k = len(self.centres)
        if common:
            return np.broadcast_to(self.centres[k - 1], (len(ids), self.centres.shape[1]))
        u = self.stream.uniform(ids, tick=t, salt=8)[:, 0]
        return self.centres[np.minimum((u * k).astype(np.int64), k - 1)]

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        pass


class Gradual(DriftProcess):
    """θ ← normalise(θ + σ·ε/√d): an isotropic random walk of angular step ≈ σ."""

    kind = "gradual"
    spec: GradualDrift

    def advance(self, pop, t, present):
        if t < self.spec.start:
            return []
        ids = self._selected(present, self.spec.fraction)
        eps = self.stream.normal(ids, tick=t, n=pop.dim, salt=1).astype(np.float32)
        pop.theta[ids] = normalise(pop.theta[ids] + self.spec.sigma * eps / np.sqrt(pop.dim))
        return []


class Directed(DriftProcess):
    """Affected users glide in a straight line to a target between ``start`` and ``end``."""

    kind = "directed"
    spec: DirectedDrift

    def __init__(self, *args):
        super().__init__(*args)
        self.users = np.empty(0, np.int64)
        self.targets = np.empty((0, self.centres.shape[1]), np.float32)

    def advance(self, pop, t, present):
        s = self.spec
        events = []
        if t == s.start:
            self.users = self._selected(present, s.fraction)
            self.targets = np.array(self._target_centres(self.users, t, s.common_target), np.float32)
            events.append((self.kind, s.start, s.end, self.users))
        if s.start <= t < s.end and self.users.size:
            step = 1.0 / (s.end - t)
            th = pop.theta[self.users]
            pop.theta[self.users] = normalise(th + step * (self.targets - th))
        return events

    def state(self):
        return {"users": self.users, "targets": self.targets}

    def load_state(self, state):
        self.users, self.targets = state["users"], state["targets"]


class Abrupt(DriftProcess):
    """At ``onset`` a fraction of users jump to new interests (a shared cluster, or each their own)."""

    kind = "abrupt"
    spec: AbruptShift

    def advance(self, pop, t, present):
        s = self.spec
        if t != s.onset:
            return []
        ids = self._selected(present, s.fraction)
        centre = self._target_centres(ids, t, s.common_target)
        noise = self.stream.normal(ids, tick=t, n=pop.dim, salt=2)
        pop.theta[ids] = normalise(centre + s.target_spread * noise / np.sqrt(pop.dim))
        pop.satiation[ids] = 0.0
        return [(self.kind, t, t, ids)]


class Periodic(DriftProcess):
    """Interests alternate between the user's profile at ``start`` (A) and a second one (B).

    ``square``: B for the first half of each period, A for the second; every switch
    is an event. ``sine``: a smooth mix, one event at ``start``. Exactly periodic:
    θ(t + P) = θ(t) for affected users (the process owns their interests).
    """

    kind = "periodic"
    spec: PeriodicDrift

    def __init__(self, *args):
        super().__init__(*args)
        self.users = np.empty(0, np.int64)
        self.profile_a = self.profile_b = np.empty((0, self.centres.shape[1]), np.float32)

    def advance(self, pop, t, present):
        s = self.spec
        if t < s.start:
            return []
        events = []
        if t == s.start:
            self.users = self._selected(present, s.fraction)
            self.profile_a = pop.theta[self.users].copy()
            noise = self.stream.normal(self.users, tick=t, n=pop.dim, salt=3)
            centre = self._target_centres(self.users, t, common=False)
            self.profile_b = normalise(centre + 0.3 * noise / np.sqrt(pop.dim))
        if not self.users.size:
            return []
        phase = (t - s.start) % s.period
        if s.shape == "square":
            half = s.period // 2
            in_b = phase < half
            pop.theta[self.users] = self.profile_b if in_b else self.profile_a
            if phase in (0, half):
                events.append((self.kind, t, t, self.users))
        else:
            w = 0.5 * (1.0 - np.cos(2 * np.pi * phase / s.period))
            pop.theta[self.users] = normalise((1 - w) * self.profile_a + w * self.profile_b)
            if t == s.start:
                events.append((self.kind, t, t + s.period // 2, self.users))
        return events

    def state(self):
        return {"users": self.users, "profile_a": self.profile_a, "profile_b": self.profile_b}

    def load_state(self, state):
        self.users, self.profile_a, self.profile_b = state["users"], state["profile_a"], state["profile_b"]


class Consumption(DriftProcess):
    """Each click pulls interests towards the clicked item: θ ← normalise((1−η)θ + η·φ)."""

    kind = "consumption"
    spec: ConsumptionDrift

    def after_clicks(self, pop, users, item_vectors, t):
        eta = self.spec.rate
        pop.theta[users] = normalise((1 - eta) * pop.theta[users] + eta * item_vectors)


class Satiation(DriftProcess):
    """Boredom: clicks add ``strength``·φ to a satiation vector that decays by ``recovery``.

    True affinity uses θ − satiation, so similar items are temporarily less attractive.
    """

    kind = "satiation"
    spec: SatiationDrift

    def advance(self, pop, t, present):
        if t > 0:
            pop.satiation[: pop.n] *= self.spec.recovery
        return []

    def after_clicks(self, pop, users, item_vectors, t):
        pop.satiation[users] += self.spec.strength * item_vectors


_PROCESSES: dict[str, type[DriftProcess]] = {
    cls.kind: cls for cls in (Gradual, Directed, Abrupt, Periodic, Consumption, Satiation)
}


class DriftSchedule:
    """The scenario's drift processes, applied in order, with the events they produce."""

    def __init__(self, specs: tuple[DriftSpec, ...], stream: KeyedStream, centres: np.ndarray):
        self.processes = [
            _PROCESSES[spec.type](spec, i, stream.child(i), centres) for i, spec in enumerate(specs)
        ]
        self.events: list[DriftEvent] = []

    def advance(self, pop: Population, t: int, present: np.ndarray) -> list[DriftEvent]:
        new = []
        for p in self.processes:
            for kind, onset, end, users in p.advance(pop, t, present):
                event = DriftEvent(len(self.events), kind, onset, end, np.asarray(users, np.int64), p.index)
                self.events.append(event)
                new.append(event)
        return new

    def after_clicks(self, pop: Population, users: np.ndarray, item_vectors: np.ndarray, t: int) -> None:
        if users.size:
            for p in self.processes:
                p.after_clicks(pop, users, item_vectors, t)

    def state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for p in self.processes:
            out.update({f"p{p.index}.{k}": v for k, v in p.state().items()})
        for e in self.events:
            out[f"event{e.event_id}"] = np.concatenate([[e.onset, e.end, e.process], e.users]).astype(np.int64)
            out[f"event{e.event_id}.kind"] = np.frombuffer(e.kind.encode().ljust(16), np.uint8)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for p in self.processes:
            prefix = f"p{p.index}."
            p.load_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        self.events = []
        i = 0
        while f"event{i}" in state:
            arr = state[f"event{i}"]
            kind = bytes(state[f"event{i}.kind"]).decode().strip()
            self.events.append(DriftEvent(i, kind, int(arr[0]), int(arr[1]), arr[3:], int(arr[2])))
            i += 1
