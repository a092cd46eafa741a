"""Seeding: one root seed in, named and keyed random streams out.

Sits at the very start of the data flow: ``sim.runner.run(scenario, seed)`` builds a
:class:`RunSeeds` once, and every component that draws numbers gets its own stream
from it. Two kinds of stream exist:

* :class:`KeyedStream` — a counter-based generator: the draws for (user or item id,
  tick, slot) are a pure function of the stream's key and those integers. This is
  what makes common random numbers hold across recommenders (a user's drift and
  click noise do not depend on who else was active or what was shown) and what lets
  a population be split into shards with identical results. It is the splitmix64
  finaliser applied to a mixed counter, vectorised over numpy ``uint64`` arrays.
* ``numpy.random.Generator`` — for components that draw in sequence (recommenders'
  own initialisation, bootstrap resampling), derived from named ``SeedSequence``
  children spawned in a fixed order.

Stream names are spawned in the order of :data:`STREAMS`; new streams are appended
at the end only, so existing streams keep their values when the list grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Named child streams of a run, in spawn order. Append only.
STREAMS: tuple[str, ...] = (
    "population",
    "catalog",
    "drift",
    "choice",
    "activity",
    "evaluation",
    "recommender",
)

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_TWO53 = 1.0 / 9007199254740992.0  # 2**-53


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 with good avalanche."""
    z = (z ^ (z >> _U64(30))) * _M1
    z = (z ^ (z >> _U64(27))) * _M2
    return z ^ (z >> _U64(31))


@dataclass(frozen=True)
class KeyedStream:
    """Random numbers addressed by (id, tick, slot) rather than drawn in sequence.

    ``uniform(ids, tick, n)`` returns an ``(len(ids), n)`` array whose row for id ``u``
    depends only on ``(key, u, tick)``: asking for a subset of ids, or the ids in
    another order, returns the same numbers for each id. ``tick`` is usually the
    iteration; callers that need several independent draws per iteration use
    different ``salt`` values.
    """

    key: int

    def _bits(self, ids: np.ndarray, tick: int, n: int, salt: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            base = _mix(
                np.asarray([self.key], dtype=_U64)
                + _U64(tick & 0xFFFFFFFF) * _GOLDEN
                + _U64(salt & 0xFFFF) * _M2
            )
            per_id = _mix(base + np.asarray(ids, dtype=np.int64).astype(_U64) * _M1)
            slots = np.arange(1, n + 1, dtype=_U64) * _GOLDEN
            return _mix(per_id[:, None] + slots[None, :])

    def uniform(self, ids: np.ndarray, tick: int, n: int = 1, *, salt: int = 0) -> np.ndarray:
        """Uniform floats in [0, 1), shape ``(len(ids), n)``."""
        bits = self._bits(ids, tick, n, salt)
        return (bits >> _U64(11)).astype(np.float64) * _TWO53

    def normal(self, ids: np.ndarray, tick: int, n: int = 1, *, salt: int = 0) -> np.ndarray:
        """Standard normal floats, shape ``(len(ids), n)`` (Box–Muller on keyed uniforms)."""
        m = (n + 1) // 2
        bits = self._bits(ids, tick, 2 * m, salt)
        u = ((bits >> _U64(11)).astype(np.float64) + 1.0) * _TWO53  # (0, 1]
        u1, u2 = u[:, :m], u[:, m:]
        r = np.sqrt(-2.0 * np.log(u1))
        z = np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)
        return z[:, :n]

    def child(self, salt: int) -> "KeyedStream":
        """An independent stream derived from this one (e.g. one per drift process)."""
        with np.errstate(over="ignore"):
            k = _mix(np.asarray([self.key], dtype=_U64) ^ _mix(np.asarray([salt + 1], dtype=_U64)))
        return KeyedStream(int(k[0]))


@dataclass(frozen=True)
class RunSeeds:
    """The root seed of one run and its named child streams.

    Built once per ``(scenario, seed)``; the entropy is recorded in the manifest so a
    run can be reproduced exactly.
    """

    seed: int
    _children: dict[str, np.random.SeedSequence] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_seed(cls, seed: int) -> "RunSeeds":
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        root = np.random.SeedSequence(seed)
        kids = root.spawn(len(STREAMS))
        return cls(seed=seed, _children=dict(zip(STREAMS, kids)))

    def sequence(self, name: str) -> np.random.SeedSequence:
        try:
            return self._children[name]
        except KeyError:
            raise KeyError(f"unknown random stream {name!r}; known: {', '.join(STREAMS)}") from None

    def keyed(self, name: str) -> KeyedStream:
        """A counter-based stream for ``name`` (see :class:`KeyedStream`)."""
        return KeyedStream(int(self.sequence(name).generate_state(1, np.uint64)[0]))

    def generator(self, name: str) -> np.random.Generator:
        """A fresh sequential generator for ``name`` (same numbers on every call)."""
        return np.random.default_rng(self.sequence(name))

    def int_seed(self, name: str, salt: int = 0) -> int:
        """A 31-bit integer for libraries that take an int (scikit-learn, Keras)."""
        state = self.sequence(name).generate_state(salt + 1, np.uint32)
        return int(state[-1] & 0x7FFFFFFF)
