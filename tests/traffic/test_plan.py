"""The plan: a seeded, repeatable mix of requests labelled with the routes the server records."""

from __future__ import annotations

from collections import Counter

import pytest

from app.traffic.plan import DEFAULT_MIX, KINDS, Plan, parse_mix


class TestPlan:
    def test_same_seed_same_sequence(self):
        """Two plans with one seed and mix yield the same requests, query strings included."""
        assert Plan(seed=42).take(200) == Plan(seed=42).take(200)

    def test_other_seed_other_sequence(self):
        """A different seed gives a different sequence."""
        assert Plan(seed=42).take(50) != Plan(seed=43).take(50)

    def test_random_seed_is_kept(self):
        """Without a seed one is picked, and reusing it repeats the run."""
        plan = Plan()
        assert Plan(seed=plan.seed).take(30) == plan.take(30)

    def test_default_mix_covers_every_kind(self):
        """The default mix sends every kind: 2xx, 302, 400, 404 (matched and not), 500, slow."""
        kinds = Counter(request.kind for request in Plan(seed=1).take(2000))
        assert set(kinds) == set(KINDS) == set(DEFAULT_MIX)
        assert kinds["index"] > kinds["boom"]

    def test_routes_are_url_rules(self):
        """Each request carries the URL rule the server labels it with, never the raw path."""
        routes = {request.kind: request.route for request in Plan(seed=3).take(2000)}
        assert routes["user"] == "/user/<name>"
        assert routes["users"] == "/users/<int:user_id>"
        assert routes["missing"] == ""
        assert routes["slow"] == "/slow"

    def test_slow_stays_small(self):
        """/slow asks for 50 to 400 ms, well under the server's limit."""
        delays = [int(r.path.split("=")[1]) for r in Plan(seed=5).take(3000) if r.kind == "slow"]
        assert delays and min(delays) >= 50 and max(delays) <= 400

    def test_mix_restricts_kinds(self):
        """A mix sends only the kinds it names, and a zero weight drops a kind."""
        requests = Plan({"index": 1, "boom": 1, "slow": 0}, seed=9).take(100)
        assert {request.kind for request in requests} == {"index", "boom"}


class TestParseMix:
    def test_parses_weights(self):
        assert parse_mix("index=5, user=3,boom=1") == {"index": 5, "user": 3, "boom": 1}

    @pytest.mark.parametrize("text", ["nope=1", "index", "index=x", "index=0", ""])
    def test_rejects_bad_mixes(self, text):
        """Unknown kinds, missing or non-numeric weights and all-zero mixes are refused."""
        with pytest.raises(ValueError):
            parse_mix(text)
