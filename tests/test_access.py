"""Access helpers: loopback hosts and the presented token."""

from __future__ import annotations

import base64

import pytest
from flask import Flask

from app.access import is_loopback
from app.hookwatch.endpoints import token_presented


class TestIsLoopback:
    @pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"])
    def test_loopback_hosts(self, host: str) -> None:
        """localhost and every loopback address count as loopback."""
        assert is_loopback(host)

    @pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "example.com", "", "::", "app"])
    def test_other_hosts(self, host: str) -> None:
        """Anything else, the wildcard address included, does not."""
        assert not is_loopback(host)


class TestTokenPresented:
    @pytest.mark.parametrize(
        ("authorization", "basic_allowed", "expected"),
        [
            ("Bearer s3cret", False, True),
            ("bearer s3cret", False, True),
            ("Bearer wrong", False, False),
            ("Bearer", False, False),
            (None, False, False),
            ("Basic " + base64.b64encode(b"anyone:s3cret").decode(), False, False),
            ("Basic " + base64.b64encode(b"anyone:s3cret").decode(), True, True),
            ("Basic " + base64.b64encode(b"anyone:nope").decode(), True, False),
            ("Token s3cret", True, False),
        ],
    )
    def test_token_forms(self, authorization: str | None, basic_allowed: bool,
                         expected: bool) -> None:
        """A bearer token always, a Basic password only where allowed, nothing else."""
        headers = {"Authorization": authorization} if authorization else {}
        with Flask(__name__).test_request_context("/", headers=headers):
            assert token_presented("s3cret", basic_allowed) is expected
