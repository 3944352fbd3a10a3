"""openai backend against a stub chat-completions server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from open_toolace.generation import Sampling
from open_toolace.generation.openai import GenerationError, OpenAIGenerator, ServerConfigError

MSGS = [{"role": "user", "content": "weather in Paris?"}]


class Stub:
    """Scripted server: `script` is a list of (status, body | None, delay_s) consumed one per request;
    when empty, answers 200 with `n` choices echoing the last user message (or 1 if `ignore_n`)."""

    def __init__(self):
        self.script: list[tuple[int, object, float]] = []
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.ignore_n = False
        self.lock = threading.Lock()

    def answer(self, body: dict) -> tuple[int, object, float]:
        with self.lock:
            self.received.append(body)
            if self.script:
                return self.script.pop(0)
        k = 1 if self.ignore_n else body.get("n", 1)
        content = body["messages"][-1]["content"]
        choices = [
            {"index": i, "message": {"role": "assistant", "content": f"{content}|{body['seed']}|{i}"}}
            for i in range(k)
        ]
        return 200, {"choices": choices}, 0.0


@pytest.fixture
def server():
    stub = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stub.headers.append(dict(self.headers))
            status, payload, delay = stub.answer(body)
            time.sleep(delay)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield stub
    httpd.shutdown()
    httpd.server_close()


def gen(server, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("api_key", "sk-test")
    return OpenAIGenerator("stub-model", base_url=server.url, **kw)


def test_success_request_body_and_order(server):
    reqs = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    out = gen(server, concurrency=4).generate(
        reqs, Sampling(temperature=0.7, top_k=20, max_new_tokens=33, stop=["\n"]), progress=False
    )
    assert [o[0].split("|")[0] for o in out] == [f"q{i}" for i in range(12)]  # request order
    body = server.received[0]
    assert body["model"] == "stub-model" and body["temperature"] == 0.7 and body["max_tokens"] == 33
    assert body["top_k"] == 20 and body["stop"] == ["\n"] and body["n"] == 1
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_n_native_and_server_ignoring_n(server):
    g = gen(server)
    out = g.generate([MSGS], Sampling(n=3, temperature=1.0), progress=False)
    assert len(out[0]) == 3 and g.requests_sent == 1
    server.ignore_n = True
    g2 = gen(server)
    out2 = g2.generate([MSGS], Sampling(n=3, temperature=1.0), progress=False)
    assert len(out2[0]) == 3 and g2.requests_sent == 3
    assert len(set(out2[0])) == 3  # each extra request gets its own seed


def test_retries_on_503_then_success(server):
    server.script = [(503, {"error": "busy"}, 0.0), (429, {"error": "slow down"}, 0.0)]
    g = gen(server, max_retries=3)
    out = g.generate([MSGS], progress=False)
    assert out[0][0].startswith("weather in Paris?") and g.requests_sent == 3


def test_gives_up_after_retries(server):
    server.script = [(500, "oops", 0.0)] * 3
    with pytest.raises(GenerationError, match="gave up after 3 attempts; last error: HTTP 500"):
        gen(server, max_retries=2).generate([MSGS], progress=False)


def test_on_error_empty_records_the_failure(server):
    server.script = [(500, "oops", 0.0)] * 2
    g = gen(server, max_retries=1, on_error="empty", concurrency=1)
    out = g.generate([MSGS, MSGS], Sampling(n=2), progress=False)
    assert out[0] == ["", ""] and out[1][0].startswith("weather") and g.errors[0]["request"] == 0


def test_401_is_a_clear_error_without_retries(server):
    server.script = [(401, {"error": "invalid key"}, 0.0)]
    g = gen(server, on_error="empty")
    with pytest.raises(ServerConfigError, match="refused the API key.*OPENAI_API_KEY"):
        g.generate([MSGS], progress=False)
    assert g.requests_sent == 1


def test_404_names_base_url_and_model(server):
    server.script = [(404, "not found", 0.0)]
    with pytest.raises(ServerConfigError, match="base_url ends with /v1.*stub-model"):
        gen(server).generate([MSGS], progress=False)


def test_bad_response_is_a_clear_error(server):
    server.script = [(200, "not json", 0.0)]
    with pytest.raises(GenerationError, match="bad response"):
        gen(server).generate([MSGS], progress=False)
    server.script = [(200, {"choices": []}, 0.0)]
    with pytest.raises(GenerationError, match="no choices"):
        gen(server).generate([MSGS], progress=False)


def test_timeout_is_retried_then_reported(server):
    server.script = [(200, {"choices": [{"message": {"content": "late"}}]}, 0.5)]
    g = gen(server, timeout=0.1, max_retries=1)
    out = g.generate([MSGS], progress=False)  # first try times out, the retry succeeds
    assert out[0][0].startswith("weather") and g.requests_sent == 2
    server.script = [(200, {"choices": []}, 0.5)] * 2
    with pytest.raises(GenerationError, match="ReadTimeout"):
        gen(server, timeout=0.1, max_retries=1).generate([MSGS], progress=False)


def test_stop_and_call_end_trimmed_client_side(server):
    server.script = [(200, {"choices": [{"message": {"content": "[f(a=1)] and some prose"}}]}, 0.0)]
    assert gen(server).generate([MSGS], progress=False) == [["[f(a=1)]"]]


def test_api_key_from_env(server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-env")
    g = OpenAIGenerator("m", base_url=server.url, api_key_env="MY_KEY")
    g.generate([MSGS], progress=False)
    assert server.headers[-1]["Authorization"] == "Bearer sk-env"


def test_make_generator_openai_adapter_and_batch_size(server, tmp_path):
    from open_toolace.generation import make_generator

    g = make_generator("openai", "base", adapter="my-lora", base_url=server.url, batch_size=3, api_key="k")
    assert g.model == "my-lora" and g.concurrency == 3
    g.generate([MSGS], progress=False)
    assert server.received[-1]["model"] == "my-lora"
    with pytest.raises(ValueError, match="lora-modules"):
        make_generator("openai", "base", adapter=str(tmp_path), base_url=server.url)
