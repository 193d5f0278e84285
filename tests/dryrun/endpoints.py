"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies: the dry run's teacher,
PA-GRM-DS judge and evaluation panel.

Replies are what reasoning models send: a ``<think>`` block first, holding a *decoy* that must never be
taken for the verdict (an invalid PA-GRM JSON object, ResearchQA levels of 1), then the answer. About
one PA-GRM reply in five (chosen by the prompt's hash, so reruns agree) is malformed JSON, cut off as a
truncated output is.
The panel's three models answer with different WildBench scores (6, 8, 4: average 6, WB-Score 20) and
ResearchQA levels of 5 after the decoy (coverage 100), so the averaged numbers are known exactly.

Each request is checked for the API key the model's environment variable names and recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PANEL_WB_SCORES = {"gemini-2.5-pro": 6, "kimi-k2.5": 8, "qwen3-max": 4}
PANEL_CW3_SCORES = {"gemini-2.5-pro": 10, "kimi-k2.5": 12, "qwen3-max": 14}
TEACHER = "deepseek-v4-pro"  # the paper's teacher and its PA-GRM-DS judge
MALFORMED_EVERY = 5


def think(decoy: str) -> str:
    return f"<think>\nLet me draft first: {decoy}\nNo, I will answer properly.\n</think>\n\n"


def _score_of(text: str) -> int:
    """A deterministic 1-10 score of a response (its hash: varied, reproducible)."""
    return 1 + int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10


def pagrm_reply(prompt: str) -> str:
    """A PA-GRM protocol or scoring trace (or a direct verdict), the decoy an invalid object."""
    if "design the evaluation standard" in prompt:
        answer = {
            "protocol": "holistic",
            "schema": [{"aspect": "helpfulness", "guidance": "answers the request"}],
        }
        return think(json.dumps({"protocol": "rubric", "schema": []})) + json.dumps(answer)
    response = prompt.rsplit("[Response]", 1)[-1]
    answer = {"judgments": [], "reasoning": "scripted", "score": _score_of(response)}
    return think(json.dumps({"reasoning": "draft", "score": 0})) + json.dumps(answer)


def panel_reply(model: str, prompt: str) -> str:
    """A chat-benchmark verdict in the format of the benchmark's template (eval/templates/)."""
    if "<|begin_of_response|>" in prompt:  # WildBench
        answer = {"strengths": "s", "weaknesses": "w", "score": str(PANEL_WB_SCORES[model])}
        return think('{"score": "1"}') + json.dumps(answer)
    if "[TEST MODEL RESPONSE]" in prompt:  # Creative Writing v3
        block = prompt.split("Score the response on each of these criteria:", 1)[1].split("\n\n")[1]
        criteria = [c.strip() for c in block.splitlines() if c.strip()]
        lines = "\n".join(f"{c}: {PANEL_CW3_SCORES[model]}" for c in criteria)
        return (
            think("[Scores]\n" + "\n".join(f"{c}: 0" for c in criteria))
            + f"[Analysis]\nFine.\n\n[Scores]\n{lines}"
        )
    if "# Rubric items" in prompt:  # ResearchQA
        n = len(re.findall(r"^\d+\. ", prompt.split("# Rubric items", 1)[1], flags=re.MULTILINE))
        return think("\n".join(f"{i}: 1" for i in range(1, n + 1))) + "\n".join(
            f"{i}: 5" for i in range(1, n + 1)
        )
    raise ValueError(f"{model}: unrecognised panel prompt {prompt[:120]!r}")


@dataclass
class Request:
    model: str
    api_key: str
    prompt: str
    max_tokens: int | None


@dataclass
class ScriptedEndpoint:
    """``with ScriptedEndpoint(keys) as server:`` serves ``server.url``/v1/chat/completions until exit.

    ``keys`` maps a model name to the API key its requests must carry (401 otherwise)."""

    keys: dict[str, str]
    requests: list[Request] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    url: str = ""

    def __enter__(self) -> ScriptedEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # /v1/models: what a client may ask before calling
                self._send(
                    200, {"object": "list", "data": [{"id": m, "object": "model"} for m in endpoint.keys]}
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model, key = (
                    body.get("model", ""),
                    self.headers.get("Authorization", "").removeprefix("Bearer "),
                )
                if not self.path.endswith("/chat/completions") or model not in endpoint.keys:
                    return self._send(404, {"error": {"message": f"no model {model!r} at {self.path}"}})
                if key != endpoint.keys[model]:
                    return self._send(401, {"error": {"message": "invalid API key"}})
                prompt = body["messages"][-1]["content"]
                endpoint.record(Request(model, key, prompt, body.get("max_tokens")))
                # a one-token request is a liveness check before compute (eval/judge_endpoints.py)
                content = "ok" if body.get("max_tokens") == 1 else endpoint.reply(model, prompt)
                self._send(200, completion(model, content))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self.calls[request.model] += 1

    def reply(self, model: str, prompt: str) -> str:
        if model in PANEL_WB_SCORES:
            return panel_reply(model, prompt)
        if int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % MALFORMED_EVERY == 0:
            with self._lock:
                self.malformed[model] += 1
            return '{"reasoning": "cut off", "score": '
        return pagrm_reply(prompt)


def completion(model: str, content: str) -> dict[str, Any]:
    """An OpenAI chat.completion object."""
    return {
        "id": "chatcmpl-dryrun",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
