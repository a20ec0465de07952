"""Which requests to send: a weighted mix of the lesson routes, drawn from a seeded RNG.

Pure: no I/O, no clock. The same mix and seed always give the same sequence, so a run can
be repeated request for request. Each planned request carries the route label the server
will record it under (``http_route``), which lets a run be checked against ``/metrics``.
"""

from __future__ import annotations

import random
from typing import Callable, Iterator, Mapping, NamedTuple

__all__ = ["DEFAULT_MIX", "KINDS", "Plan", "PlannedRequest", "parse_mix"]

NAMES = ("ada", "alan", "grace", "barbara", "dennis", "edsger", "frances", "ken", "linus",
         "margaret", "radia", "tim")


class PlannedRequest(NamedTuple):
    """One request to send: its kind in the mix, the path (with query), the expected route."""

    kind: str
    path: str
    route: str


Maker = Callable[[random.Random], PlannedRequest]


def _fixed(kind: str, path: str) -> Maker:
    return lambda rng: PlannedRequest(kind, path, path)


def _user(rng: random.Random) -> PlannedRequest:
    return PlannedRequest("user", f"/user/{rng.choice(NAMES)}{rng.randrange(100)}", "/user/<name>")


def _users(rng: random.Random) -> PlannedRequest:
    # Ids 1 and 2 exist; 3 to 5 are abort(404) from a matched route.
    return PlannedRequest("users", f"/users/{rng.randint(1, 5)}", "/users/<int:user_id>")


def _missing(rng: random.Random) -> PlannedRequest:
    # No rule matches, so the server records an empty route (bounded cardinality).
    return PlannedRequest("missing", f"/no-such-page/{rng.getrandbits(32):08x}", "")


def _slow(rng: random.Random) -> PlannedRequest:
    return PlannedRequest("slow", f"/slow?ms={rng.randrange(50, 401, 10)}", "/slow")


KINDS: dict[str, Maker] = {
    "index": _fixed("index", "/"),
    "user": _user,
    "users": _users,
    "browser": _fixed("browser", "/browser"),
    "context": _fixed("context", "/context"),
    "cookie": _fixed("cookie", "/cookie"),
    "redirect": _fixed("redirect", "/redirect"),
    "bad": _fixed("bad", "/bad"),
    "missing": _missing,
    "boom": _fixed("boom", "/boom"),
    "slow": _slow,
}

# Mostly healthy pages, a steady trickle of 4xx, about 4% of 500s and 5% of slow calls.
DEFAULT_MIX: dict[str, int] = {
    "index": 20, "user": 20, "users": 10, "browser": 5, "context": 5, "cookie": 5,
    "redirect": 5, "bad": 3, "missing": 8, "boom": 4, "slow": 5,
}


def parse_mix(text: str) -> dict[str, int]:
    """Parse ``"index=5,user=3,boom=1"`` into weights; only the kinds named are sent."""
    mix: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, weight = item.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} in the mix; choose from {', '.join(KINDS)}")
        if not sep or not weight.strip().isdigit():
            raise ValueError(f"give each kind a whole-number weight, like {kind}=5")
        mix[kind] = int(weight)
    if not any(mix.values()):
        raise ValueError("the mix needs at least one kind with a weight above 0")
    return mix


class Plan:
    """An endless, repeatable sequence of requests drawn from ``mix`` with ``seed``."""

    def __init__(self, mix: Mapping[str, int] | None = None, seed: int | None = None) -> None:
        """``seed=None`` picks one at random; it is kept in ``self.seed`` to repeat the run."""
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(mix) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds in the mix: {', '.join(sorted(unknown))}")
        self.mix = {kind: weight for kind, weight in mix.items() if weight > 0}
        if not self.mix:
            raise ValueError("the mix needs at least one kind with a weight above 0")
        self.seed = random.SystemRandom().randrange(2**31) if seed is None else seed

    def __iter__(self) -> Iterator[PlannedRequest]:
        rng = random.Random(self.seed)
        kinds, weights = list(self.mix), list(self.mix.values())
        while True:
            kind = rng.choices(kinds, weights)[0]
            yield KINDS[kind](rng)

    def take(self, count: int) -> list[PlannedRequest]:
        """The first ``count`` requests of the sequence."""
        iterator = iter(self)
        return [next(iterator) for _ in range(count)]
