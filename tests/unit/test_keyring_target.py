"""The keyring's URL builder (:mod:`botmaker.keyring.target`), property-based: no
remainder or query string moves the scheme, host or port, or leaves the base URL's path;
only origin-form targets pass, and the data plane accepts only its own address as
``Host``. Pure functions: no process, no socket (the HTTP half is
``tests/test_keyring_target.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from botmaker.keyring.target import (
    DataAddress,
    TargetRefused,
    origin_form,
    remainder,
    upstream_url,
)

BASES = [
    "https://api.anthropic.com",
    "https://api.openai.com/v1",
    "https://generativelanguage.googleapis.com/v1beta",
    "https://api.deepinfra.com/v1/openai",
    "http://127.0.0.1:8080",
    "http://10.0.0.5:11434/",
    "http://[::1]:9000/api/v1",
]
#: Characters that have moved hosts and paths in some parser or other.
TRICKY = "/\\%.@:#?;=&+ \t\r\n\x00[]2eEfFcC5a0" + "é\u3002\uff0f\u2215"


@st.composite
def remainders(draw: st.DrawFn) -> str:
    """Paths built from the pieces attacks are made of, and plain text around them."""
    pieces = st.sampled_from(
        [
            *["/", "//", "/..", "/.", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "@", ":", "#"],
            *["?", "%", "%%", "%252e", "/;", "..;", "http://evil.example", "@evil.example:1"],
        ]
    )
    parts = draw(st.lists(st.one_of(pieces, st.text(alphabet=TRICKY, max_size=6)), max_size=8))
    return "".join(parts)


def same_place(base: str, url: URL) -> None:
    """``url`` has ``base``'s scheme, host and port, and lies under its path, to yarl
    (what aiohttp connects to) and to the standard library alike."""
    parsed = URL(base)
    assert (url.scheme, url.raw_host, url.port) == (parsed.scheme, parsed.raw_host, parsed.port)
    assert url.user is None
    assert url.password is None
    assert not url.raw_fragment
    prefix = parsed.raw_path.rstrip("/")
    assert url.raw_path == prefix or url.raw_path.startswith(prefix + "/")
    split = urlsplit(str(url))
    expected = urlsplit(base)
    assert (split.scheme, split.hostname, split.port) == (
        expected.scheme,
        expected.hostname,
        expected.port,
    )
    assert split.username is None
    assert not split.fragment
    assert split.path.startswith(prefix)


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(BASES), rest=remainders(), query=st.text(alphabet=TRICKY))
def test_no_remainder_or_query_moves_the_host_or_leaves_the_base_path(
    base: str, rest: str, query: str
) -> None:
    try:
        url = upstream_url(base, rest, query)
    except TargetRefused:  # refused: nothing is sent (any other exception fails the test)
        return
    same_place(base, url)
    # what was accepted travels as given: nothing was decoded, dropped or normalised
    assert str(url).endswith(rest + (f"?{query}" if query else ""))


SEGMENT = st.text(alphabet="abcXYZ019-_~!$&'()*+,;=:@", min_size=1, max_size=8).filter(
    lambda s: s.split(";")[0] not in (".", "..")
)
ESCAPE = st.sampled_from(["%20", "%C3%A9", "%25", "%3F", "%23", "%40"])


@settings(max_examples=200, deadline=None)
@given(
    base=st.sampled_from(BASES),
    segments=st.lists(st.lists(st.one_of(SEGMENT, ESCAPE), min_size=1, max_size=3), max_size=5),
    query=st.text(alphabet="abc=&%20/?:@[]|{}", max_size=20),
)
def test_a_plain_path_and_query_arrive_exactly_as_sent(
    base: str, segments: list[list[str]], query: str
) -> None:
    rest = "".join("/" + "".join(parts) for parts in segments)
    url = upstream_url(base, rest, query)
    same_place(base, url)
    assert url.raw_path == (URL(base).raw_path.rstrip("/") + rest or "/")
    assert url.raw_query_string == query


@pytest.mark.parametrize(
    "rest",
    [
        "/..",
        "/../v1",
        "/a/./b",
        "/%2e%2e/x",
        "/%2E./x",
        "/.%2e",
        "/..;/x",
        "/%2e;x=1/y",
        "/a%2fb",
        "/a%2Fb",
        "/a%5cb",
        "/a\\b",
        "/%zz",
        "/%",
        "/a%2",
        "/a b",
        "/a\tb",
        "/a\x00",
        "/é",
        "/a#b",
        "/a?b",
        "@evil.example/x",
        ".evil.example/x",
        ":1/x",
        "x",
    ],
)
def test_paths_that_could_move_the_request_are_refused(rest: str) -> None:
    for base in BASES:
        with pytest.raises(TargetRefused):
            upstream_url(base, rest, "")


@pytest.mark.parametrize("query", ["a#b", "a b", "a\r\nHost: evil", "é", "a\x7fb"])
def test_queries_that_are_not_plain_ascii_are_refused(query: str) -> None:
    with pytest.raises(TargetRefused):
        upstream_url(BASES[0], "/v1/messages", query)


def test_the_upstream_url_keeps_the_base_and_appends() -> None:
    assert str(upstream_url("https://api.anthropic.com", "/v1/messages", "beta=true")) == (
        "https://api.anthropic.com/v1/messages?beta=true"
    )
    assert str(upstream_url("https://api.openai.com/v1/", "", "")) == "https://api.openai.com/v1"
    assert str(upstream_url("https://api.anthropic.com", "", "")) == "https://api.anthropic.com/"
    assert str(upstream_url("http://[::1]:9000/api", "/x", "")) == "http://[::1]:9000/api/x"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "http://evil.example/v1/openai/x"),
        ("POST", "https://api.openai.com/v1/openai/x"),
        ("POST", "HTTP://evil.example/v1/openai/x"),
        ("CONNECT", "evil.example:443"),
        ("connect", "/v1/openai/x"),
        ("GET", "evil.example:443"),
        ("OPTIONS", "*"),
        ("GET", "//evil.example/v1/openai/x"),
        ("GET", "/v1/openai/x#frag"),
        ("GET", ""),
    ],
)
def test_only_origin_form_targets_pass(method: str, target: str) -> None:
    with pytest.raises(TargetRefused):
        origin_form(method, target)


def test_origin_form_splits_path_and_query() -> None:
    assert origin_form("POST", "/v1/openai/x?a=1?b") == ("/v1/openai/x", "a=1?b")
    assert origin_form("GET", "/v1/openai") == ("/v1/openai", "")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/opena%69/x",
        "/v1/OPENAI/x",
        "/v1/openai%2Fx",
        "/v1/openaix",
        "/v1/open",
        "/v2/openai/x",
        "/v1//openai/x",
        "http://evil/v1/openai/x",
    ],
)
def test_the_provider_must_be_spelled_as_the_route_matched_it(path: str) -> None:
    with pytest.raises(TargetRefused):
        remainder(path, "openai")


@given(provider=st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), data=st.data())
def test_an_escaped_letter_in_the_provider_is_always_refused(
    provider: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(provider) - 1))
    spelled = provider[:at] + f"%{ord(provider[at]):02X}" + provider[at + 1 :]
    with pytest.raises(TargetRefused):
        remainder(f"/v1/{spelled}/chat/completions", provider)
    assert remainder(f"/v1/{provider}/chat/completions", provider) == "/chat/completions"
    assert remainder(f"/v1/{provider}", provider) == ""


def test_the_data_planes_address() -> None:
    gateway = DataAddress()
    assert not gateway.accepts("172.31.250.1:7180")  # not bound yet: nothing
    gateway.bind("172.31.250.1", "172.31.250.1", 7180)
    for good in ("172.31.250.1:7180", "172.31.250.1"):
        assert gateway.accepts(good), good
    for bad in (
        None,
        "",
        "172.31.250.1:7181",
        "172.31.250.1:07180x",
        "172.31.250.10:7180",
        "localhost:7180",
        "evil.example:7180",
        "172.31.250.1.evil.example:7180",
        "x@172.31.250.1:7180",
        "172.31.250.1:7180 ",
        "172.31.250.1:99999",
        "[172.31.250.1]:7180",
        "::1:7180",
    ):
        assert not gateway.accepts(bad), bad

    loopback = DataAddress()
    loopback.bind("127.0.0.1", "127.0.0.1", 41000)
    for good in ("127.0.0.1:41000", "localhost:41000", "LOCALHOST", "127.0.0.1"):
        assert loopback.accepts(good), good
    assert not loopback.accepts("127.0.0.2:41000")

    v6 = DataAddress()
    v6.bind("::1", "::1", 7180)
    assert v6.accepts("[::1]:7180")
    assert v6.accepts("[::1]")
    assert not v6.accepts("[::2]:7180")
    assert not v6.accepts("[::1]x")

    everywhere = DataAddress()
    everywhere.bind("0.0.0.0", "0.0.0.0", 7180)
    assert everywhere.accepts("10.1.2.3:7180")
    assert everywhere.accepts("[fe80::1]:7180")
    assert not everywhere.accepts("evil.example:7180")
    assert not everywhere.accepts("10.1.2.3:7181")


@given(value=st.text(alphabet="0123456789.:[]abclocahst@ \t", max_size=24))
def test_a_host_header_is_accepted_only_as_the_bound_address(value: str) -> None:
    gateway = DataAddress()
    gateway.bind("172.31.250.1", "172.31.250.1", 7180)
    assert gateway.accepts(value) == (value in ("172.31.250.1", "172.31.250.1:7180"))
