"""Responders: the extractive one, and the HTTP one against a real server on loopback."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.responders import ExtractiveResponder, OpenAICompatibleResponder, ResponderError

KEY = "sk-test-4f1c9e0d-never-print-me"
BUNDLE = [{"ref": "E1", "text": "The lake stores objects. Each object is verified on read."},
          {"ref": "E2", "text": "Partitions are days. A tree has only today."}]


class Server:
    """A loopback HTTP server whose behaviour each test picks; counts the requests it saw."""

    def __init__(self, mode: str):
        self.mode, self.hits, self.headers = mode, 0, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802
                outer.hits += 1
                outer.headers.append(dict(self.headers))
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.mode == "slow":
                    time.sleep(1.5)
                if outer.mode in ("500", "400"):
                    self.send_response(int(outer.mode))
                    self.end_headers()
                    return
                body = b"{not json" if outer.mode == "malformed" else json.dumps(
                    {"choices": [{"message": {"content": "Objects are verified on read [E1]."}}]}).encode()
                if outer.mode == "flaky" and outer.hits == 1:
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (the timeout case)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request):
    s = Server(request.param)
    yield s
    s.close()


def _client(url, **kw):
    return OpenAICompatibleResponder(url, "test-model", KEY, timeout_s=kw.pop("timeout_s", 1.0),
                                     retries=kw.pop("retries", 2), backoff_s=0.01)


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_http_responder_answers_and_cites(server):
    response = _client(server.url).respond("how are objects checked", BUNDLE)
    assert response.cited_refs == ["E1"] and "verified" in response.answer
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("server", ["flaky"], indirect=True)
def test_http_responder_retries_a_503(server):
    assert _client(server.url).respond("q", BUNDLE).cited_refs == ["E1"]
    assert server.hits == 2


@pytest.mark.parametrize(("server", "hits", "message", "timeout_s"), [
    ("500", 3, "HTTP 500", 10.0),  # a timeout far beyond a reply's time, however busy the host
    ("400", 1, "HTTP 400", 10.0),
    ("malformed", 3, "malformed reply", 10.0),
    ("slow", 3, "timed out", 0.3),  # the server sleeps 1.5 s before it replies
], indirect=["server"])
def test_http_failures_become_responder_errors_without_the_key(server, hits, message, timeout_s):
    client = _client(server.url, timeout_s=timeout_s)
    with pytest.raises(ResponderError, match=message) as info:
        client.respond("q", BUNDLE)
    assert server.hits == hits
    assert KEY not in str(info.value) and KEY not in repr(client)


def test_unreachable_endpoint_is_an_error_not_a_hang():
    start = time.perf_counter()
    with pytest.raises(ResponderError):
        _client("http://127.0.0.1:9/v1", retries=1).respond("q", BUNDLE)
    assert time.perf_counter() - start < 10


def test_extractive_responder_is_deterministic_and_cites_sources():
    responder = ExtractiveResponder()
    a = responder.respond("verified object", BUNDLE)
    assert a == responder.respond("verified object", BUNDLE)
    assert a.cited_refs == ["E1"] and "verified on read" in a.answer
    assert responder.respond("zebra", BUNDLE).answer == ""
