"""Bad input against a real server: a clear status, the server keeps serving, one log line,
one count, and no new series.

Every row is sent with a raw socket (most of them cannot be sent by the test client) after a
benign *baseline* request with the same labels, so "no new series" means: the bad request
added nothing that a well-formed request of the same kind would not add. Rows the HTTP server
itself refuses before the app sees them (request line, header limits, broken syntax) leave the
server's one error line and no count: there is no request to count.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

import pytest

from app.hookwatch.metrics import HTTP_METHODS

from .conftest import RawServer, snapshot

REQUEST_LINES = {"request_finished", "request_failed"}
NEW_ID = re.compile(r"[0-9a-f]{32}")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def req(target: str = "/healthz", method: str = "GET", headers: tuple = (),
        body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 request; names and values may be bytes, to send anything at all."""
    def b(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    lines = [b(method) + b" " + b(target) + b" HTTP/1.1", b"Host: 127.0.0.1",
             b"Connection: close"]
    lines += [b(name) + b": " + b(value) for name, value in headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass
class Case:
    id: str
    raw: bytes
    status: int | None
    baseline: bytes | None = None
    counted: int = 1  # 0: refused by the HTTP server, the app never saw a request
    forbidden: tuple[str, ...] = ()  # must reach neither the response headers nor the logs
    events: tuple[str, ...] = ()  # other lines the request writes besides its request line
    check: str = ""  # extra check: "new_id", "no_trace", "html_escaped"
    logged_code: int | None = None  # the code in the server's error line, if not ``status``


def rid(value: bytes | str, **kw) -> Case:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    forbidden = (text,) if text.strip() else ()
    return Case(f"x-request-id {text[:12]!r}", req(headers=[("X-Request-ID", value)]), 200,
                req(), forbidden=forbidden, check="new_id", **kw)


def tp(value: str, label: str) -> Case:
    return Case(f"traceparent {label}", req(headers=[("traceparent", value)]), 200, req(),
                check="no_trace")


BIG = 1024 * 1024 + 1  # MAX_CONTENT_LENGTH + 1

CASES = [
    # X-Request-ID: never echoed, never logged raw, a new id instead.
    rid("a" * 65),
    rid("b" * 10_000),
    # A lone CR ends the header line in http.server's parser: the app sees "abc", a valid id.
    Case("x-request-id lone CR", req(headers=[("X-Request-ID", b"abc\rdef")]), 200, req(),
         forbidden=("abc\rdef",)),
    rid(b"abc\r\n def"),  # obs-fold: a continuation line
    rid(b"abc\x00def"),
    rid(b"\x1b[31mred\x1b[0m"),
    rid(b"abc\tdef"),
    rid(b"caf\xe9-latin-1"),
    rid("идентификатор".encode()),
    rid(""),
    rid("   "),
    rid("<script>alert(1)</script>"),
    Case("x-request-id repeated", req(headers=[("X-Request-ID", "first-id"),
                                               ("X-Request-ID", "second-id")]),
         200, req(), check="new_id"),
    # traceparent: ignored, no trace id, a new request id.
    tp("garbage", "malformed"),
    tp(f"ff-{TRACE}-{PARENT}-01", "version ff"),
    tp(f"00-{'0' * 32}-{PARENT}-01", "zero trace id"),
    tp(f"00-{TRACE}-{'0' * 16}-01", "zero parent id"),
    tp(f"00-{TRACE.upper()}-{PARENT.upper()}-01", "upper-case hex"),
    tp(f"00-{TRACE}-{PARENT}-01-extra", "trailing field"),
    tp(f"00-{TRACE}-{PARENT}-0", "short flags"),
    Case("traceparent repeated", req(headers=[("traceparent", f"00-{TRACE}-{PARENT}-01"),
                                              ("traceparent", f"00-{TRACE}-{PARENT}-01")]),
         200, req(), check="no_trace"),
    # Methods outside the standard nine: 405 or 501, counted as _OTHER.
    Case("method FOO", req("/", "FOO"), 405, req("/", "BAR")),
    Case("method PROPFIND", req("/", "PROPFIND"), 405, req("/", "BAR")),
    Case("method lower-case get", req("/", "get"), 501, req("/", "gEt")),
    Case("method 1000 chars", req("/", "X" * 1000), 405, req("/", "BAR")),
    Case("method with control byte", req("/", b"G\x01T"), 405, req("/", "BAR")),
    Case("method FOO on unknown path", req("/nope", "FOO"), 404, req("/nope2", "BAR")),
    # Paths: 404, no new route values.
    Case("path 8 KiB", req("/" + "a" * 8192), 404, req("/nope")),
    Case("path percent-encoded invalid UTF-8", req("/%ff%fe%fd"), 404, req("/nope")),
    Case("path raw invalid UTF-8", req(b"/\xff\xfe\xc3"), 404, req("/nope")),
    Case("path percent-encoded NUL and CRLF", req("/a%00b%0d%0aforged"), 404, req("/nope")),
    Case("path dot-dot segments", req("/../../etc/passwd"), 404, req("/nope")),
    Case("path encoded dot-dot under /static", req("/static/..%2f..%2fapp%2fconfig.py"), 404,
         req("/static/nope.css")),
    Case("path absolute-form target", req("http://evil.example/nope"), 404, req("/nope")),
    Case("path percent-encoded on a real route", req("/user/%ff%00"), 200, req("/user/ada")),
    Case("query string junk", req("/healthz?%ff=%00&a=<script>&a=1"), 200, req()),
    # Sizes and bodies.
    Case("request line over 64 KiB", req("/" + "a" * 70_000), 414, counted=0),
    Case("header line over 64 KiB", req(headers=[("X-Big", "a" * 70_000)]), 431, counted=0),
    Case("more than 100 headers", req(headers=[(f"X-{i}", "a") for i in range(120)]), 431,
         counted=0),
    # Without a version it understands, http.server answers HTTP/0.9 style: no status line.
    Case("unknown HTTP version", b"GET / HTTP/9\r\n\r\n", None, counted=0, logged_code=400),
    Case("TLS hello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
         None, counted=0, logged_code=400),
    Case("body over MAX_CONTENT_LENGTH", req("/healthz", "POST", body=b"a" * BIG), 413,
         req("/healthz", "POST", headers=[("Content-Length", str(BIG))])),
    Case("Content-Length claims 10 GB", req("/healthz", "POST",
                                            headers=[("Content-Length", "10000000000")]),
         413, req("/healthz", "POST", headers=[("Content-Length", str(BIG))])),
    Case("body on GET", req("/healthz", body=b"hello"), 200, req()),
    Case("invalid Content-Length", req(headers=[("Content-Length", "abc")]), 200, req()),
    # /slow with bad ms values: 400, counted under /slow.
    *[Case(f"/slow ms={value}", req(f"/slow?{value}"), 400, req("/slow?ms=x"))
      for value in ("ms=-1", "ms=99999999999999999999", "ms=abc", "ms=1.5", "ms=1&ms=2",
                    "ms=%EF%BC%91", "ms=", "ms=6000")],
    # /user/<name> with markup and very long names: escaped, 200.
    Case("/user/ with HTML/JS", req("/user/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"), 200,
         req("/user/ada"), check="html_escaped"),
    Case("/user/ with a 4 KiB name", req("/user/" + "n" * 4096), 200, req("/user/ada")),
    # Session cookies that do not verify: a new session, a warning without the value.
    *[Case(f"session cookie {label}", req("/context", headers=[("Cookie", f"session={value}")]),
           200, req("/context"), forbidden=(value,),
           events=("context_visited", "session_cookie_rejected"))
      for label, value in (("garbage", "not-a-signed-cookie-at-all"),
                           ("tampered", "eyJ2aXNpdHMiOjk5OX0.aSgvQw.Zm9yZ2VkLXNpZ25hdHVyZS0xMjM"))],
]


def request_line(lines: list[dict]) -> dict:
    found = [line for line in lines if line["event"] in REQUEST_LINES]
    assert len(found) == 1, lines
    return found[0]


def assert_bounded_labels(live: RawServer) -> None:
    rules = {rule.rule for rule in live.app.url_map.iter_rules()} | {""}
    for (name, labels), _ in live.samples().items():
        labels = dict(labels)
        if name.startswith("http_server_"):
            assert labels.get("http_route", "") in rules, labels
            assert labels["http_request_method"] in HTTP_METHODS | {"_OTHER"}, labels


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input(live: RawServer, case: Case) -> None:
    """Status, one line, one count (none if the server refused it), no new series, still up."""
    if case.baseline is not None:
        assert live.raw(case.baseline).status is not None
        live.wait_lines(len(live.lines()))
    before = snapshot(live)

    reply = live.raw(case.raw)

    assert reply.status == case.status, reply.raw[:300]
    expected_lines = 1 + len(case.events)
    lines = live.wait_lines(before.lines + expected_lines)[before.lines:]
    assert len(lines) == expected_lines, lines
    after = snapshot(live)
    assert after.counted - before.counted == case.counted
    assert after.series == before.series, sorted(after.series - before.series)
    assert_bounded_labels(live)

    if case.counted:
        line = request_line(lines)
        assert line["status"] == case.status
        assert reply.headers["x-request-id"] == line["request_id"]
        assert sorted(other["event"] for other in lines if other is not line) == sorted(case.events)
    else:
        code = case.logged_code or case.status
        assert lines[0]["level"] == "error" and f"code {code}, message" in lines[0]["event"]
    text = live.logs.text
    for value in case.forbidden:
        assert value not in text
        assert all(value not in header for header in reply.headers.values())
    if case.check == "new_id":
        assert NEW_ID.fullmatch(line["request_id"])
    elif case.check == "no_trace":
        assert NEW_ID.fullmatch(line["request_id"]) and "trace_id" not in line
    elif case.check == "html_escaped":
        assert b"<img" not in reply.body and b"&lt;img src=x onerror=alert(1)&gt;" in reply.body

    assert live.get("/healthz").status == 200


def test_valid_request_id_and_traceparent_are_kept(live: RawServer) -> None:
    """The control rows: a valid id is echoed and a valid traceparent gives a trace id."""
    reply = live.raw(req(headers=[("X-Request-ID", "A" * 64),
                                  ("traceparent", f"00-{TRACE}-{PARENT}-01")]))
    line = request_line(live.wait_lines(3)[2:])
    assert reply.headers["x-request-id"] == "A" * 64 == line["request_id"]
    assert line["trace_id"] == TRACE


def test_ten_thousand_random_paths(live: RawServer) -> None:
    """10,000 random unknown paths: 10,000 lines and counts, all 404, one series. (No time
    limit: each request has its own timeout, and how fast they go is the benchmark's job.)"""
    rng = random.Random(6)
    alphabet = string.ascii_letters + string.digits + "-._~%"
    live.raw(req("/nope"))
    before = snapshot(live)
    for _ in range(10_000):
        path = "/" + "".join(rng.choices(alphabet, k=rng.randint(1, 40)))
        if live.app.url_map.bind("x").test(path):
            continue
        reply = live.raw(req(path))
        assert reply.status == 404, path
    after = snapshot(live)
    lines = live.wait_lines(before.lines + 10_000)[before.lines:]
    sent = int(after.counted - before.counted)
    assert sent >= 9_990 and len(lines) == sent
    assert {line["status"] for line in lines} == {404}
    assert {line["route"] for line in lines} == {""}
    assert after.series == before.series
