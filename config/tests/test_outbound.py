"""The outbound guard: only http(s), only public addresses unless the operator names the host, checked
when the connection is made (a checked address is the one used), and no redirect followed."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any, ClassVar

import httpx2
import pytest

from config.outbound import OutboundPolicy, OutboundRefused, guarded_client


def fixed(addresses: dict[str, list[str]]) -> Any:
    return lambda host, port: addresses.get(host, [])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_loopback_private_link_local_and_unspecified_addresses_are_refused(address):
    policy = OutboundPolicy(resolver=fixed({"llm.example.com": [address]}))
    with pytest.raises(OutboundRefused, match="loopback, private or link-local"):
        policy.addresses_for("llm.example.com", 443)


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    policy = OutboundPolicy(resolver=fixed({"mixed.example.com": ["93.184.216.34", "10.0.0.5"]}))
    with pytest.raises(OutboundRefused):
        policy.addresses_for("mixed.example.com", 443)


def test_public_addresses_and_the_operators_named_hosts_are_allowed():
    resolver = fixed({"api.example.com": ["93.184.216.34"], "ollama.lan": ["192.168.1.20"]})
    policy = OutboundPolicy(allowed_hosts=["Ollama.LAN."], resolver=resolver)
    assert policy.addresses_for("api.example.com", 443) == ["93.184.216.34"]
    assert policy.addresses_for("ollama.lan", 11434) == ["192.168.1.20"]
    with pytest.raises(OutboundRefused, match="does not resolve"):
        policy.addresses_for("nowhere.example.com", 443)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://llm.example.com/v1", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("gopher://127.0.0.1:6379/_INFO", "http and https"),
        ("http://user:pw@llm.example.com/v1", "user name or password"),
        ("http:///v1", "no host"),
    ],
)
def test_urls_of_the_wrong_shape_are_refused(url, why):
    with pytest.raises(OutboundRefused, match=why):
        OutboundPolicy().check_url(url)


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[int, str, str]]] = []
    redirect_to: ClassVar[str] = ""

    def do_GET(self) -> None:
        port = int(self.server.server_address[1])  # type: ignore[index]
        self.seen.append((port, self.path, self.headers.get("Host", "")))
        if self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def servers():
    _Recorder.seen = []
    _Recorder.redirect_to = ""
    started = []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(httpd)
    yield [h.server_address[1] for h in started]
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def test_a_loopback_server_is_not_reached_unless_its_host_is_allowed(servers):
    port = servers[0]
    with guarded_client(OutboundPolicy(), timeout=5) as client, pytest.raises(OutboundRefused):
        client.get(f"http://127.0.0.1:{port}/v1/models")
    with guarded_client(OutboundPolicy(), timeout=5) as client, pytest.raises(OutboundRefused):
        client.get(f"http://localhost:{port}/v1/models")
    assert _Recorder.seen == []
    with guarded_client(OutboundPolicy(allowed_hosts=["127.0.0.1"]), timeout=5) as client:
        assert client.get(f"http://127.0.0.1:{port}/v1/models").text == "ok"
    assert [path for _, path, _ in _Recorder.seen] == ["/v1/models"]


def test_the_checked_address_is_the_one_connected_to_and_the_host_header_is_kept(servers):
    """The name is resolved once, by the guard, and the request goes to that address: a resolver
    that would answer differently a moment later (DNS rebinding) is never asked again."""
    port = servers[0]
    answers = iter([["127.0.0.1"]])
    policy = OutboundPolicy(allowed_hosts=["llm.test"], resolver=lambda host, p: next(answers))
    with guarded_client(policy, timeout=5) as client:
        assert client.get(f"http://llm.test:{port}/v1/models").status_code == 200
    assert _Recorder.seen == [(port, "/v1/models", f"llm.test:{port}")]


def test_a_redirect_is_not_followed(servers):
    first, second = servers
    _Recorder.redirect_to = f"http://127.0.0.1:{second}/internal"
    policy = OutboundPolicy(allowed_hosts=["127.0.0.1"])
    with guarded_client(policy, timeout=5) as client, pytest.raises(OutboundRefused, match="redirect"):
        client.get(f"http://127.0.0.1:{first}/v1/models")
    assert [port for port, _, _ in _Recorder.seen] == [first]  # the second server saw nothing
    with guarded_client(policy, timeout=5) as client, pytest.raises(OutboundRefused, match="redirect"):
        client.get(f"http://127.0.0.1:{first}/v1/models", follow_redirects=True)
    assert [port for port, _, _ in _Recorder.seen] == [first, first]


def test_proxy_variables_are_not_read(servers, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{servers[1]}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{servers[1]}")
    with guarded_client(OutboundPolicy(allowed_hosts=["127.0.0.1"]), timeout=5) as client:
        client.get(f"http://127.0.0.1:{servers[0]}/x")
    assert [port for port, _, _ in _Recorder.seen] == [servers[0]]


def test_the_client_is_the_one_the_openai_sdk_takes():
    assert isinstance(guarded_client(OutboundPolicy(), timeout=1), httpx2.Client)
