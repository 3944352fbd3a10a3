"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp server, a
hosted teacher), called with httpx from a thread pool.

    from open_toolace.generation.openai import OpenAIGenerator
    gen = OpenAIGenerator("my-model", base_url="http://127.0.0.1:8000/v1", concurrency=16)
    gen.generate([messages], Sampling(n=5, temperature=1.0, max_new_tokens=64))

The API key comes from `api_key`, else the env var named by `api_key_env` (default OPENAI_API_KEY); the URL
from `base_url`, else $OPENAI_BASE_URL, else https://api.openai.com/v1. 429, 5xx, timeouts and dropped
connections are retried with exponential backoff (honouring Retry-After); 401/403/404 and other 4xx fail at
once with a message that says what to check. Servers that ignore `n` get further requests until each prompt
has `n` completions.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from open_toolace.generation import GREEDY, Message, Sampling, trim_completion

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class GenerationError(RuntimeError):
    """A request that failed for good (after retries, or at once for auth/not-found/bad requests)."""


class ServerConfigError(GenerationError):
    """401/403/404: the key, URL or model name is wrong; every request would fail the same way."""


class OpenAIGenerator:
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        stop_at_call_end: bool = True,
        send_top_k: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        on_error: str = "raise",
        batch_size: int | None = None,
    ):
        """`send_top_k`: add the non-standard `top_k` field (vLLM/SGLang accept it; default: unless the URL is
        api.openai.com). `on_error`: "raise", or "empty" to return "" for a request that failed for good and
        record the reason in `self.errors` (auth and not-found errors always raise). `batch_size`, if given,
        replaces `concurrency` (so hf-style configs work unchanged)."""
        import httpx

        if on_error not in ("raise", "empty"):
            raise ValueError("on_error must be 'raise' or 'empty'")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip(
            "/"
        )
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        self.api_key_env = api_key_env
        # batch_size: what callers written for the hf backend pass; here it means requests in flight
        self.concurrency, self.max_retries = max(1, batch_size or concurrency), max_retries
        self.backoff, self.backoff_max = backoff, backoff_max
        self.stop_at_call_end, self.extra_body, self.on_error = stop_at_call_end, extra_body or {}, on_error
        self.send_top_k = "api.openai.com" not in self.base_url if send_top_k is None else send_top_k
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), headers=headers)
        self.errors: list[dict[str, Any]] = []
        self.requests_sent = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    # -- one HTTP call, retried -------------------------------------------------------------------------
    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        last, last_retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, last_retry_after))
            last_retry_after = None
            with self._lock:
                self.requests_sent += 1
            try:
                resp = self.client.post(url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = f"{type(e).__name__}: {e or 'no details'}"
                continue
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                last_retry_after = resp.headers.get("retry-after")
                continue
            if resp.status_code in (401, 403):
                raise ServerConfigError(
                    f"HTTP {resp.status_code} from {url}: the server refused the API key "
                    f"(set {self.api_key_env} or pass api_key=). Server said: {resp.text[:200]}"
                )
            if resp.status_code == 404:
                raise ServerConfigError(
                    f"HTTP 404 from {url}: check that base_url ends with /v1 and that the server serves "
                    f"model {self.model!r}. Server said: {resp.text[:200]}"
                )
            if resp.status_code >= 400:
                raise GenerationError(f"HTTP {resp.status_code} from {url}: {resp.text[:500]}")
            try:
                data = resp.json()
                choices = data["choices"]
                if not isinstance(choices, list) or not choices:
                    raise ValueError("no choices")
                return data
            except (ValueError, KeyError, TypeError) as e:
                raise GenerationError(f"bad response from {url} ({e}): {resp.text[:300]}") from None
        raise GenerationError(f"{url}: gave up after {self.max_retries + 1} attempts; last error: {last}")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.backoff_max)
            except ValueError:
                pass
        # exponential with jitter, so concurrent workers do not retry in lockstep
        return min(self.backoff * 2 ** (attempt - 1), self.backoff_max) * (0.5 + random.random() / 2)

    # -- one request: n completions ------------------------------------------------------------------------
    def _complete(self, messages: list[Message], n: int, params: dict[str, Any], seed: int) -> list[str]:
        out: list[str] = []
        calls = 0
        while len(out) < n:
            body = {"model": self.model, "messages": messages, "n": n - len(out), **params, **self.extra_body}
            body["seed"] = seed + calls  # a server that ignores n must not return the same sample again
            data = self._post(body)
            calls += 1
            for choice in data["choices"][: n - len(out)]:
                msg = choice.get("message") if isinstance(choice, dict) else None
                if not isinstance(msg, dict):
                    raise GenerationError(
                        f"bad response from {self.base_url}: a choice without a message: {choice!r:.200}"
                    )
                out.append(msg.get("content") or "")
        return out

    def generate(
        self,
        requests: list[list[Message]],
        sampling: Sampling = GREEDY,
        progress: bool = True,
    ) -> list[list[str]]:
        from tqdm.auto import tqdm

        n, temperature, top_k, top_p, max_new_tokens, stop, seed = sampling.astuple()
        params: dict[str, Any] = {"temperature": temperature, "max_tokens": max_new_tokens}
        if top_p is not None:
            params["top_p"] = top_p
        if top_k is not None and self.send_top_k:
            params["top_k"] = top_k
        if stop:
            params["stop"] = list(stop)[:4]  # the OpenAI API takes at most 4; the rest are trimmed below
        if sampling.repetition_penalty is not None:  # not OpenAI's own API; vLLM and TGI servers take it
            params["repetition_penalty"] = sampling.repetition_penalty

        def one(i: int) -> list[str]:
            try:
                texts = self._complete(requests[i], n, params, seed * 1_000_003 + i * 1009)
            except ServerConfigError:
                raise
            except GenerationError as e:
                if self.on_error == "raise":
                    raise
                with self._lock:
                    self.errors.append({"request": i, "error": str(e)})
                texts = [""] * n
            return [trim_completion(t, stop, self.stop_at_call_end) for t in texts]

        results: list[list[str]] = [[] for _ in requests]
        with (
            ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(requests)))) as pool,
            tqdm(total=len(requests), desc=f"openai n={n}", unit="prompt", disable=not progress) as bar,
        ):
            futures = {pool.submit(one, i): i for i in range(len(requests))}
            try:
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return results
