"""Teacher mode against a stub OpenAI-compatible server on 127.0.0.1, and complexity control with tiny-random."""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from open_toolace.synth.complexity import completion_nll, complexity_filter
from open_toolace.synth.seed import ComplexityConfig, SynthConfig, run_synthesis, synthesize
from open_toolace.synth.teacher import TeacherConfig, extract_json
from open_toolace.synth.verify import verify_example

CITIES = ["Lisbon", "Oslo", "Quito", "Perth", "Nairobi", "Lyon"]
DATES = [("March 14, 2026", "2026-03-14"), ("April 2, 2026", "2026-04-02"), ("May 30, 2027", "2027-05-30")]
ISO = {text: iso for text, iso in DATES}


class Stub:
    """Canned answers per agent role; counts the roles it served."""

    def __init__(self):
        self.roles: Counter = Counter()
        self.lock = threading.Lock()
        self.n = 0

    def answer(self, messages: list[dict]) -> str:
        system, last = messages[0]["content"], messages[-1]["content"]
        m = re.search(r"\[agent: (\w+)\]", system)
        role = m.group(1) if m else ("assistant" if "composing functions" in system else "unknown")
        with self.lock:
            self.roles[role] += 1
            self.n += 1
            k = self.n
        return getattr(self, role)(last, system, k)

    def api_designer(self, last: str, system: str, k: int) -> str:
        if k % 9 == 0:
            return "Sorry, I cannot design that."  # -> bad_json reject
        func = re.search(r"Functionality: (.+)", last).group(1)
        name = re.sub(r"[^a-z]+", "_", func.lower()).strip("_") + f"_{k}"
        return json.dumps({"name": name, "description": f"Look up {func}.", "parameters": {
            "type": "object", "required": ["city", "date"], "properties": {
                "city": {"type": "string", "description": "City."},
                "date": {"type": "string", "description": "Date, YYYY-MM-DD."},
                "guests": {"type": "integer", "description": "Guests."}}}})  # fmt: skip

    def api_evolver(self, last: str, system: str, k: int) -> str:
        api = extract_json(last.split("Rewrite it")[0])
        api["parameters"]["properties"]["language"] = {
            "type": "string",
            "enum": ["en", "fr"],
            "description": "Language.",
        }
        return "Here it is:\n```json\n" + json.dumps(api) + "\n```"

    def user(self, last: str, system: str, k: int) -> str:
        name = re.search(r"It must need[^`]*`([^`]+)`", last).group(1)
        times = int(m.group(1)) if (m := re.search(r"called (\d) times", last)) else 1
        parts = [
            f"for {CITIES[(k + i) % len(CITIES)]} on {DATES[(k + i) % len(DATES)][0]}" for i in range(times)
        ]
        return f"Please use {name} " + " and ".join(parts) + "."

    def assistant(self, last: str, system: str, k: int) -> str:
        offered = set(re.findall(r'"name": "([^"]+)"', system))
        name = next((w for w in re.findall(r"use (\S+)", last)), None)
        if name not in offered:
            return "[]"
        calls = []
        for city, date in re.findall(r"for (\w+) on ([A-Z][a-z]+ \d+, \d{4})", last):
            city = "Sydney" if city == "Perth" else city  # a hallucinated value: the rule layer must catch it
            calls.append(f'{name}(city="{city}", date="{ISO[date]}")')
        return "[" + ", ".join(calls) + "]"

    def tool(self, last: str, system: str, k: int) -> str:
        return '{"status": "ok", "rooms_left": 3}'

    def assistant_reply(self, last: str, system: str, k: int) -> str:
        return "Done: there are 3 rooms left."

    def judge(self, last: str, system: str, k: int) -> str:
        if "Oslo" in last:
            return '{"hallucination": true, "consistent": true, "reason": "Oslo was invented"}'
        if "Nairobi" in last:
            return "Looks fine to me."  # -> judge_unparsable
        return '{"hallucination": false, "consistent": true, "reason": "ok"}'


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny model is latency-bound: one thread beats several fighting over 2 shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stub_server():
    stub = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/chat/completions"
            n = body.get("n", 1)
            text = stub.answer(body["messages"])
            out = {"id": "x", "object": "chat.completion", "model": body["model"],
                   "choices": [{"index": i, "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop"} for i in range(n)]}  # fmt: skip
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_teacher_mode_end_to_end(stub_server, tmp_path):
    stub, url = stub_server
    cfg = SynthConfig(mode="teacher", n=1000, progress=False,
                      teacher=TeacherConfig(base_url=url, n_apis=14, n_dialogs=60, concurrency=4),
                      complexity=ComplexityConfig(model="tiny-random", low=0.1, high=0.9, quantiles=True))  # fmt: skip
    out = tmp_path / "teacher.jsonl"
    stats = run_synthesis(cfg, out)
    assert set(stub.roles) == {
        "api_designer",
        "api_evolver",
        "user",
        "assistant",
        "tool",
        "assistant_reply",
        "judge",
    }
    examples = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "teacher.rejects.jsonl").read_text().splitlines()]
    assert examples and stats["samples"] == len(examples)
    reasons = Counter(r["reason"] for r in rejects)
    assert reasons["bad_json"] >= 1  # TSS output that is not an API
    assert reasons["judge_hallucination"] >= 1 and reasons["judge_unparsable"] >= 1  # model layer
    assert reasons["ungrounded_value"] + reasons["underivable_value"] >= 1  # rule layer caught "Sydney"
    assert reasons["too_easy"] >= 1 and reasons["too_hard"] >= 1  # complexity band
    types = Counter(ex["meta"]["type"] for ex in examples)
    assert len(types) >= 3
    for ex in examples:
        assert ex["meta"]["mode"] == "teacher" and isinstance(ex["meta"]["difficulty"], float)
        assert verify_example(ex) == []
        text = " ".join(m["content"] for m in ex["messages"])
        # The judge rejects every dialog naming Oslo; the stub assistant swaps Perth for Sydney in its calls, so
        # the rule layer must reject every dialog with a call for Perth. An irrelevance dialog about Perth has no
        # call and is legitimately kept (which dialog gets Perth depends on the order of the concurrent requests).
        assert "Oslo" not in text and "Sydney" not in text
        if ex["calls"]:
            assert "Perth" not in text
        if ex["meta"]["type"] == "irrelevance":
            assert ex["calls"] == []
        else:
            assert ex["calls"] and all(
                re.match(r"\d{4}-\d{2}-\d{2}$", c["arguments"]["date"]) for c in ex["calls"]
            )
        if ex["meta"]["type"] == "multi_turn":
            assert [m["role"] for m in ex["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    pool = [json.loads(line) for line in (tmp_path / "teacher.apis.jsonl").read_text().splitlines()]
    assert pool and all("language" in p["tool"]["parameters"]["properties"] for p in pool)  # evolved


def test_teacher_unreachable_server_is_a_clear_failure():
    cfg = SynthConfig(mode="teacher", progress=False,
                      teacher=TeacherConfig(base_url="http://127.0.0.1:9/v1", n_apis=1, n_dialogs=1))  # fmt: skip
    import open_toolace.synth.teacher as teacher

    gen = teacher.make_teacher(cfg.teacher)
    gen.max_retries, gen.backoff = 0, 0.0
    from open_toolace.synth.seed import synthesize_result

    res = synthesize_result(cfg, gen)  # every request fails -> empty answers -> recorded rejects, no crash
    assert res.examples == [] and Counter(r["reason"] for r in res.rejects)["bad_json"] == 1


def test_complexity_loss_and_band():
    examples = synthesize(SynthConfig(n=12, progress=False, contamination=False))
    losses = completion_nll(examples + examples[:2], "tiny-random", batch_size=4, progress=False)
    assert all(math.isfinite(x) and x > 0 for x in losses)
    assert losses[12] == pytest.approx(losses[0], rel=1e-4) and losses[13] == pytest.approx(
        losses[1], rel=1e-4
    )
    kept, rejects = complexity_filter(
        examples, losses[:12], low=sorted(losses[:12])[2], high=sorted(losses[:12])[9]
    )
    assert len(kept) == 8 and Counter(r["reason"] for r in rejects) == {"too_easy": 2, "too_hard": 2}
    long = completion_nll(examples[:2], "tiny-random", max_length=8, progress=False)
    assert all(math.isnan(x) for x in long)  # completion longer than the window: no loss tokens
    kept, rejects = complexity_filter(examples[:2], long)
    assert not kept and {r["reason"] for r in rejects} == {"no_loss_tokens"}
