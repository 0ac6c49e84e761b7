"""A minimal OpenAI-compatible server on loopback, for tests of the ``openai`` provider over real HTTP.

It implements what Tessera and the official clients use, in the official schema's shape:

    POST /v1/chat/completions   a ``chat.completion`` object, or with ``stream: true`` Server-Sent
                                Events of ``chat.completion.chunk`` objects ending with ``data: [DONE]``
                                (and, when ``stream_options.include_usage`` is asked, a last chunk with
                                no choices and the ``usage`` block, as OpenAI sends it)
    GET  /v1/models             the one model it serves

Every request is recorded (method, path, headers, JSON body). The server can be stopped and started
again on the same port (a server that went down and came back), and told to hang (accept the request
and answer nothing until stopped), as a stuck upstream would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


class OpenAiServer:
    """Serves ``reply`` (streamed word by word) as ``model``, reporting the given token usage."""

    def __init__(
        self,
        *,
        reply: str = "Hello [1].",
        model: str = "tessera-test-model",
        prompt_tokens: int = 321,
        completion_tokens: int = 12,
        finish: str | None = "stop",
    ) -> None:
        self.reply = reply
        # how a streamed reply ends: "stop" (finished), "length" (the token limit), or None: the
        # connection is cut after the last word, without a finish reason or [DONE] (a dying server)
        self.finish = finish
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.requests: list[Recorded] = []
        self.port = 0  # chosen by the OS at the first start, kept for restarts
        self._hang = threading.Event()
        self._release = threading.Event()  # set on stop: hanging handlers give up
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def completions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def hang(self, hanging: bool = True) -> None:
        """From now on, accept chat requests but never answer them (until :meth:`stop`)."""
        if hanging:
            self._hang.set()
        else:
            self._hang.clear()

    def start(self) -> OpenAiServer:
        self._release.clear()
        httpd = _Httpd(("127.0.0.1", self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (new connections are refused) and end any hanging request."""
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # The bodies, in the shape of OpenAI's API reference.

    def completion(self) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "fp_test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(),
        }

    def chunks(self, include_usage: bool) -> list[dict[str, Any]]:
        words = self.reply.split(" ")
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
        out = [self._chunk([_choice(d, None)]) for d in deltas]
        if self.finish is None:
            return out
        out.append(self._chunk([_choice({}, self.finish)]))
        if include_usage:
            out.append({**self._chunk([]), "usage": self.usage()})
        return out

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "fp_test",
            "choices": choices,
            "usage": None,
        }

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "tessera-tests"}],
        }

    def wait_while_hanging(self) -> bool:
        """True if the handler should answer, False if the server stopped while it hung."""
        while self._hang.is_set():
            if self._release.wait(0.05):
                return False
        return True


def _choice(delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: OpenAiServer


class _Handler(BaseHTTPRequestHandler):
    # Every response closes its connection: a pooled keep-alive connection would outlive stop(), and
    # a stopped server must refuse every request, as a dead one does.
    protocol_version = "HTTP/1.1"
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        owner = self._record({})
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, owner.models())
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        owner = self._record(body)
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        elif not owner.wait_while_hanging():
            self.close_connection = True  # stopped while hanging: drop the request unanswered
        elif body.get("stream"):
            self._sse(
                owner.chunks(bool((body.get("stream_options") or {}).get("include_usage"))),
                done=owner.finish is not None,
            )
        else:
            self._json(200, owner.completion())

    def _record(self, body: dict[str, Any]) -> OpenAiServer:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.owner.requests.append(Recorded(self.command, self.path, headers, body))
        return self.server.owner

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _sse(self, chunks: list[dict[str, Any]], *, done: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        if done:
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        self.close_connection = True
