"""Request ids and traceparent: the pure rules, value by value."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.hookwatch.request_id import accept_request_id, new_request_id, parse_traceparent

NEW_ID = re.compile(r"[0-9a-f]{32}")


class TestAcceptRequestId:
    @pytest.mark.parametrize(
        "incoming",
        ["a", "abc-123", "A" * 64, "trace:span/1+2=3.4_5", "550e8400-e29b-41d4-a716-446655440000"],
    )
    def test_valid_ids_are_kept(self, incoming: str) -> None:
        """1 to 64 characters from the allowed set come back unchanged."""
        assert accept_request_id(incoming) == incoming

    @pytest.mark.parametrize(
        "incoming",
        [
            None, "", "A" * 65, "has space", "semi;colon", "new\nline", "cr\rlf", "nul\x00",
            "tab\t", "héllo", "日本", "quote\"", "<script>", "a,b", "trailing\n",
        ],
    )
    def test_invalid_ids_are_replaced(self, incoming: str | None) -> None:
        """Anything else is dropped and a fresh 32-hex-digit id is used instead."""
        replaced = accept_request_id(incoming)
        assert replaced != incoming
        assert NEW_ID.fullmatch(replaced)

    def test_new_ids_are_unique(self) -> None:
        """Fresh ids do not repeat."""
        ids = {new_request_id() for _ in range(10_000)}
        assert len(ids) == 10_000
        assert all(NEW_ID.fullmatch(request_id) for request_id in ids)

    def test_threads_never_share_an_id(self) -> None:
        """Ids come from a shared batch: threads drawing at once still get distinct ones."""
        with ThreadPoolExecutor(8) as pool:
            batches = list(pool.map(lambda _: [new_request_id() for _ in range(2_000)], range(8)))
        ids = [request_id for batch in batches for request_id in batch]
        assert len(set(ids)) == len(ids) == 16_000

    def test_a_forked_child_never_repeats_its_parents_ids(self) -> None:
        """A child forked with ids left in the batch draws new ones, not the parent's next."""
        new_request_id()  # the batch now holds ids the parent has not used yet
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            os.write(write_end, "".join(new_request_id() for _ in range(300)).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            child_digits = pipe.read().decode()
        os.waitpid(child, 0)
        child_ids = {child_digits[start:start + 32] for start in range(0, len(child_digits), 32)}
        parent_ids = {new_request_id() for _ in range(300)}
        assert len(child_ids) == 300
        assert not child_ids & parent_ids


class TestParseTraceparent:
    TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

    def test_valid_header_gives_trace_id(self) -> None:
        """A version-00 header with lower-case, non-zero ids yields its trace id."""
        assert parse_traceparent(f"00-{self.TRACE}-00f067aa0ba902b7-01") == self.TRACE

    @pytest.mark.parametrize(
        "header",
        [
            None, "", "garbage",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        ],
    )
    def test_invalid_headers_are_ignored(self, header: str | None) -> None:
        """Malformed, wrong-version, all-zero or upper-case headers give no trace id."""
        assert parse_traceparent(header) is None
