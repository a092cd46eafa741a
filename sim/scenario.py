"""Scenarios: declarative TOML files validated into frozen, typed objects.

The first step of the data flow (``scenarios/*.toml`` → :class:`Scenario` → world).
Everything a run needs is here, so a run is reproducible from (scenario, seed) and
the resolved scenario is written into each run's manifest. A malformed file fails in
:func:`load_scenario` — before anything runs — with a :class:`ScenarioError` naming
the file, the field and what was expected.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Upper bounds that keep a typo from asking for terabytes. Raise them knowingly.
MAX_USERS = 5_000_000
MAX_ITEMS = 1_000_000
MAX_DIM = 1024
MAX_ITERATIONS = 1_000_000


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message is one line for the user."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + message)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]


# ----------------------------------------------------------------------------- world
class ItemsSpec(_Spec):
    """The catalogue: latent vectors clustered by category, quality, arrivals."""

    n: Annotated[int, Field(ge=1, le=MAX_ITEMS)] = 1000
    n_categories: Annotated[int, Field(ge=1, le=10_000)] = 10
    category_spread: NonNeg = 0.6
    quality_sd: NonNeg = 0.2
    feature_dim: Annotated[int, Field(ge=0, le=MAX_DIM)] = 0
    feature_noise: NonNeg = 0.1
    arrivals_per_iteration: Annotated[int, Field(ge=0, le=MAX_ITEMS)] = 0
    lifetime: Annotated[int, Field(ge=0, le=MAX_ITERATIONS)] = 0


class ChurnSpec(_Spec):
    """Users leave after ``patience`` consecutive slates whose mean utility is below ``threshold``."""

    enabled: bool = False
    threshold: NonNeg = 0.2
    patience: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 5


class UsersSpec(_Spec):
    """The population: interests clustered around item categories, activity, arrivals."""

    n: Annotated[int, Field(ge=1, le=MAX_USERS)] = 1000
    concentration: NonNeg = 3.0
    category_skew: Annotated[float, Field(ge=0.0, le=5.0)] = 1.5
    active_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    arrivals_per_iteration: Annotated[int, Field(ge=0, le=MAX_USERS)] = 0
    organic_rate: Fraction = 0.3
    browse_size: Annotated[int, Field(ge=1, le=1000)] = 20
    churn: ChurnSpec = ChurnSpec()


class WorldSpec(_Spec):
    dim: Annotated[int, Field(ge=2, le=MAX_DIM)] = 16
    users: UsersSpec = UsersSpec()
    items: ItemsSpec = ItemsSpec()
    allow_repeat: bool = True
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    # calibrate users and items from a real log: a fetched dataset ("ml-100k") or a file
    source: Annotated[str, Field(min_length=1)] | None = None
    source_format: Literal["u.data", "ratings.dat", "ratings.csv", "inter"] | None = None


# ----------------------------------------------------------------------------- drift
class GradualDrift(_Spec):
    """Random walk on the unit sphere: each iteration θ ← normalise(θ + σ·ε)."""

    type: Literal["gradual"]
    sigma: Annotated[float, Field(gt=0.0, le=10.0)] = 0.02
    start: Annotated[int, Field(ge=0)] = 0
    fraction: Fraction = 1.0


class DirectedDrift(_Spec):
    """A fraction of users move steadily to a new target between ``start`` and ``end``."""

    type: Literal["directed"]
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=1)]
    fraction: Fraction = 0.5
    common_target: bool = True

    @model_validator(mode="after")
    def _window(self) -> "DirectedDrift":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class AbruptShift(_Spec):
    """At iteration ``onset`` a fraction of users jump to new interests."""

    type: Literal["abrupt"]
    onset: Annotated[int, Field(ge=1)]
    fraction: Fraction = 0.5
    common_target: bool = True
    target_spread: NonNeg = 0.3


class PeriodicDrift(_Spec):
    """Interests alternate between the user's own profile and a second one, period P."""

    type: Literal["periodic"]
    period: Annotated[int, Field(ge=2)]
    start: Annotated[int, Field(ge=0)] = 0
    fraction: Fraction = 1.0
    shape: Literal["square", "sine"] = "square"


class ConsumptionDrift(_Spec):
    """Each click pulls the user's interests towards the clicked item (filter bubbles)."""

    type: Literal["consumption"]
    rate: Fraction = 0.05


class SatiationDrift(_Spec):
    """Consuming items lowers affinity to similar items for a while (boredom)."""

    type: Literal["satiation"]
    strength: Annotated[float, Field(ge=0.0, le=10.0)] = 0.3
    recovery: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.8


DriftSpec = Annotated[
    Union[GradualDrift, DirectedDrift, AbruptShift, PeriodicDrift, ConsumptionDrift, SatiationDrift],
    Field(discriminator="type"),
]


# ----------------------------------------------------------------------------- choice
class ChoiceSpec(_Spec):
    """How users pick from a slate.

    ``mnl``: one draw over the slate plus a no-click option, P(j) ∝ w_j·exp(a_j/T),
    P(none) ∝ exp(u0/T). ``cascade``: examine top-down, click position j with
    probability w_j·μ_j, stop at the first click. In both, w_j = (1/log2(j+1))^position_bias.
    """

    model: Literal["mnl", "cascade"] = "mnl"
    temperature: Annotated[float, Field(gt=0.0, le=100.0)] = 0.1
    no_click_utility: float = 0.5
    position_bias: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    ratings: bool = False


# ----------------------------------------------------------------------------- learning
class ScheduleSpec(_Spec):
    """When the harness updates the recommenders (after the clicks of an iteration)."""

    retrain_every: Annotated[int, Field(ge=1)] = 1
    mode: Literal["warm", "full"] = "warm"
    window: Annotated[int, Field(ge=0)] = 0


class PopularitySpec(_Spec):
    window: Annotated[int, Field(ge=0)] = 10


class FullSpec(_Spec):
    """The full pipeline (recommender/pipeline.py): every stage configurable."""

    # stage 1: preprocessing
    window: Annotated[int, Field(ge=0)] = 30
    half_life: NonNeg = 10.0
    skipped_as_negative: bool = False
    # stage 2: encoder — "dae" (denoising autoencoder over decayed clicks) or "attention"
    # (causal self-attention over each user's last sequence_length clicks)
    encoder: Literal["dae", "attention"] = "dae"
    dim: Annotated[int, Field(ge=2, le=MAX_DIM)] = 32
    hidden: tuple[Annotated[int, Field(ge=1, le=8192)], ...] = (128,)
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    epochs: Annotated[int, Field(ge=1, le=1000)] = 15
    warm_epochs: Annotated[int, Field(ge=1, le=1000)] = 3
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 256
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 3e-3
    layers: Annotated[int, Field(ge=1, le=48)] = 2  # attention only, as are the next four
    heads: Annotated[int, Field(ge=1, le=64)] = 2
    sequence_length: Annotated[int, Field(ge=2, le=1024)] = 20
    time_feature: bool = True
    negatives: Annotated[int, Field(ge=1, le=1_000_000)] = 256
    # stage 3: interest patterns
    n_patterns: Annotated[int, Field(ge=0, le=1000)] = 8
    blend_history: Annotated[int, Field(ge=0)] = 3
    diversity_share: Fraction = 0.0
    # stage 5: retraining
    strategy: Literal["never", "periodic_full", "periodic_warm", "drift_triggered"] = "periodic_warm"
    retrain_every: Annotated[int, Field(ge=1)] = 5
    drift_threshold: Annotated[float, Field(gt=0.0)] = 0.15
    min_train_iterations: Annotated[int, Field(ge=1)] = 3
    # ranking: cosine + recency_prior × standardised log clicks of the last recency_window iterations
    recency_prior: NonNeg = 0.0
    recency_window: Annotated[int, Field(ge=1)] = 4

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "FullSpec":
        if self.encoder == "attention" and self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads}) for the attention encoder")
        return self


class CFSpec(_Spec):
    """The PureSVD collaborative-filtering baseline (recommender/cf.py)."""

    dim: Annotated[int, Field(ge=1, le=MAX_DIM)] = 32
    window: Annotated[int, Field(ge=0)] = 30
    half_life: NonNeg = 10.0
    retrain_every: Annotated[int, Field(ge=1)] = 5


class RecommendersSpec(_Spec):
    """Per-recommender settings; keys not given keep their defaults."""

    popularity: PopularitySpec = PopularitySpec()
    full: FullSpec = FullSpec()
    cf: CFSpec = CFSpec()


MetricFamily = Literal["accuracy", "utility", "diversity", "homogenisation", "adaptation"]


class MetricsSpec(_Spec):
    """Which metric families to compute, and their settings (see shared/metrics.md)."""

    warmup: Annotated[int, Field(ge=0)] = 0
    families: tuple[MetricFamily, ...] = ("accuracy", "utility", "diversity", "homogenisation", "adaptation")
    top_n: Annotated[int, Field(ge=0, le=1000)] = 0  # N of the true top-N (0 = k)
    pair_limit: Annotated[int, Field(ge=2)] = 2000  # homogenisation over all pairs up to this many users
    pair_sample: Annotated[int, Field(ge=1)] = 10_000  # else over this many sampled pairs
    # metrics that need the true top-k (accuracy, utility, adaptation) on a fixed panel of
    # about this many users, the same for every recommender of a seed (0 = every user)
    panel: Annotated[int, Field(ge=0)] = 0


# ----------------------------------------------------------------------------- scenario
class Scenario(_Spec):
    """A complete, validated description of one simulated study."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
    version: Annotated[int, Field(ge=1)] = 1
    description: str = ""
    iterations: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 50
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    world: WorldSpec = WorldSpec()
    drift: tuple[DriftSpec, ...] = ()
    choice: ChoiceSpec = ChoiceSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    recommenders: RecommendersSpec = RecommendersSpec()
    metrics: MetricsSpec = MetricsSpec()
    checkpoint_every: Annotated[int, Field(ge=0)] = 0  # save worlds every N iterations (0 = off)

    @model_validator(mode="before")
    @classmethod
    def _calibrated(cls, data: Any) -> Any:
        """With ``world.source``, the log decides the numbers of users and items and the
        choice model's temperature and no-click utility (see :mod:`sim.calibration`)."""
        if not isinstance(data, dict) or not isinstance(data.get("world"), dict) or not data["world"].get("source"):
            return data
        world = dict(data["world"])
        users, items = dict(world.get("users") or {}), dict(world.get("items") or {})
        try:
            dim = int(world.get("dim", WorldSpec.model_fields["dim"].default))
            n_cat = int(items.get("n_categories", ItemsSpec.model_fields["n_categories"].default))
            quality_sd = float(items.get("quality_sd", ItemsSpec.model_fields["quality_sd"].default))
        except (TypeError, ValueError):
            return data  # the field validation that follows names the bad value
        if users.get("arrivals_per_iteration") or items.get("arrivals_per_iteration") or items.get("lifetime"):
            raise _Field("world.source", "a calibrated world has the log's users and items: no arrivals or lifetimes")
        from sim.calibration import calibration_for
        from sim.datasets import DataError

        try:
            cal = calibration_for(str(world["source"]), world.get("source_format"), dim, n_cat, quality_sd)
        except (DataError, OSError) as exc:
            raise _Field("world.source", str(exc)) from None
        users["n"], items["n"] = cal.report["users"], cal.report["items"]
        world["users"], world["items"] = users, items
        choice = dict(data.get("choice") or {})
        choice["temperature"], choice["no_click_utility"] = cal.temperature, cal.no_click_utility
        return {**data, "world": world, "choice": choice}

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        items = self.world.items
        if items.lifetime and items.lifetime < 1:
            raise ValueError("world.items.lifetime must be 0 (never expire) or >= 1")
        min_alive = _min_alive_items(items)
        consumed = 0 if self.world.allow_repeat else self.iterations
        if min_alive - consumed < self.k:
            raise _Field(
                "k",
                f"slate of {self.k} larger than the eligible catalogue: at least {min_alive} items "
                f"alive, minus up to {consumed} consumed per user without repeats, leaves "
                f"{max(min_alive - consumed, 0)}; lower k or iterations, or add items",
            )
        for i, d in enumerate(self.drift):
            for attr in ("onset", "start", "end"):
                value = getattr(d, attr, None)
                if value is not None and value >= self.iterations + (attr == "end"):
                    raise _Field(
                        f"drift[{i}].{attr}",
                        f"{value} is past the horizon (iterations = {self.iterations})",
                    )
        return self

    # -- conveniences -------------------------------------------------------------
    def small(self, *, users: int = 200, items: int = 300, iterations: int | None = None) -> "Scenario":
        """A shrunken copy for tests: same dynamics, fewer users and items.

        With fewer ``iterations``, drift onsets, windows and periods are scaled in
        proportion, so the small variant tells the same story faster.
        """
        data = self.model_dump()
        data["name"] = self.name + "-small"
        data["world"]["users"]["n"] = min(users, self.world.users.n)
        data["world"]["items"]["n"] = min(items, self.world.items.n)
        if iterations is not None:
            ratio = iterations / self.iterations
            data["iterations"] = iterations
            for d in data["drift"]:
                for key in ("onset", "start", "end", "period"):
                    if key in d:
                        d[key] = max(2 if key == "period" else 1 if key != "start" else 0, round(d[key] * ratio))
                if "end" in d and d["end"] <= d.get("start", 0):
                    d["end"] = d["start"] + 1
        return Scenario.model_validate(data)

    def replace(self, **changes: Any) -> "Scenario":
        """A validated copy with top-level fields replaced (e.g. ``iterations=20``)."""
        data = self.model_dump()
        data.update(changes)
        return Scenario.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """A stable hash of the resolved scenario (for manifests and checkpoints)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class _Field(ValueError):
    """A cross-field error that knows which field it is about."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _min_alive_items(items: ItemsSpec) -> int:
    if not items.lifetime:
        return items.n
    # initial items' births are spread over one lifetime, arrivals replace them.
    return min(items.n, items.arrivals_per_iteration * items.lifetime) if items.arrivals_per_iteration else 0


# ----------------------------------------------------------------------------- loading
def _suggest(name: str, allowed: list[str]) -> str:
    """A did-you-mean hint: a close spelling, or a longer/shorter form of a key."""
    match = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if not match:
        low = name.lower()
        match = [a for a in allowed if len(a) >= 3 and (low.startswith(a) or a.startswith(low))][:1]
    return f" (did you mean {match[0]!r}?)" if match else ""


def _fields_of(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Names allowed at ``path`` inside ``model`` (for did-you-mean)."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(getattr(current, "model_fields", {}) or [])


def _describe(err: dict[str, Any]) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    # drop discriminator tags that pydantic inserts into the path of union members
    clean = [p for p in loc if not (isinstance(p, str) and p in _DRIFT_TAGS and loc.index(p) > 0 and loc[0] == "drift")]
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in clean).replace(".[", "[")
    kind = err.get("type", "")
    given = err.get("input")
    if kind == "extra_forbidden":
        parent = tuple(clean[:-1])
        allowed = _fields_of(Scenario, parent) if not (parent and parent[0] == "drift") else []
        return field, "unknown key" + _suggest(str(clean[-1]), allowed)
    if kind == "missing":
        return field, "required but missing"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return field, f"drift 'type' must be one of {', '.join(sorted(_DRIFT_TAGS))}" + (
            _suggest(str(given.get("type")), sorted(_DRIFT_TAGS)) if isinstance(given, dict) else ""
        )
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    shown = repr(given)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return field, f"{msg}, got {shown}" if given is not None and not isinstance(given, dict) else msg


_DRIFT_TAGS = {"gradual", "directed", "abrupt", "periodic", "consumption", "satiation"}


def _check_finite(obj: Any, path: str, source: str) -> None:
    """TOML allows nan and inf; no field of a scenario does."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ScenarioError(source, path, f"must be a finite number, got {obj}")
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_finite(value, f"{path}.{key}" if path else str(key), source)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _check_finite(value, f"{path}[{i}]", source)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a parsed document; raise :class:`ScenarioError` on the first problem."""
    if not isinstance(data, dict) or not data:
        raise ScenarioError(source, "", "empty scenario: expected at least 'name'")
    _check_finite(data, "", source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        ctx_error = (first.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Field):
            raise ScenarioError(source, ctx_error.field, str(ctx_error)) from None
        field, message = _describe(first)
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ScenarioError(source, field or "(top level)", message) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (or a shipped scenario's name)."""
    p = resolve_scenario_path(path)
    source = str(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(source, "", "not a UTF-8 text file; expected a TOML scenario") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"TOML syntax error: {exc}") from None
    return scenario_from_dict(data, source)


def resolve_scenario_path(path: str | Path) -> Path:
    """A path as given, or the shipped scenario of that name (``abrupt_shift``)."""
    p = Path(path)
    if p.exists() or p.suffix == ".toml" or "/" in str(path):
        return p
    from scenarios import scenario_dir

    shipped = scenario_dir() / f"{path}.toml"
    return shipped if shipped.exists() else p
