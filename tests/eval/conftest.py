"""Test doubles for the evaluator: a scripted generator that counts calls and can crash on demand."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from care_rl.data.records import EvalItem, Message
from eval.avg_at_k import Completion


class ScriptedGenerator:
    """``reply(prompt_text, j, seed)`` gives sample j; ``crash_on`` raises on that generate call (1-based)."""

    def __init__(self, reply: Callable[[str, int, int], str], crash_on: int | None = None) -> None:
        self.reply = reply
        self.crash_on = crash_on
        self.calls: list[list[str]] = []

    def prompt_lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        return [len(c[-1]["content"].split()) for c in conversations]

    def generate(self, conversations: Sequence[list[Message]], n: int, seed: int) -> list[list[Completion]]:
        if self.crash_on is not None and len(self.calls) + 1 == self.crash_on:
            raise RuntimeError("simulated crash")
        texts = [c[-1]["content"] for c in conversations]
        self.calls.append(texts)
        return [[Completion(self.reply(t, j, seed), 3) for j in range(n)] for t in texts]


def math_item(i: int, answer: str) -> EvalItem:
    words = " ".join(["word"] * (i % 5))  # varied prompt lengths, so batches are re-ordered
    return EvalItem(
        benchmark="gsm8k",
        domain="math",
        id=f"q{i}",
        messages=[{"role": "user", "content": f"question {i} {words}"}],
        reference={"answer": answer},
    )


@pytest.fixture()
def scripted_generator():
    return ScriptedGenerator


class FakeJudgeServer:
    """An OpenAI-compatible judge on 127.0.0.1 that can be down, failing, or up, on a fixed port.

    Built on tests/judges' loopback handler (its reply envelope and quiet logging). ``up`` answers
    every chat request with a WildBench verdict of ``score``; ``failing`` answers only the one-token
    ping an endpoint check sends and HTTP 503 otherwise (a judge that breaks mid-run); ``down``
    closes the port (connection refused). ``judged`` counts the verdict requests answered.
    """

    def __init__(self, score: int = 7) -> None:
        self.score = score
        self.mode = "down"
        self.judged = 0
        self._httpd = None
        self.port = self._start().server_address[1]
        self.set("down")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set(self, mode: str) -> None:
        if mode == "down" and self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        elif mode != "down" and self._httpd is None:
            self._start(self.port)
        self.mode = mode

    def _start(self, port: int = 0):
        import threading
        from http.server import ThreadingHTTPServer

        from tests.judges.test_backends import _Handler

        fake = self

        class Handler(_Handler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ping = body["messages"][-1]["content"] == "ping"
                if fake.mode == "failing" and not ping:
                    self._send(503, {"error": {"message": "judge overloaded"}})
                    return
                fake.judged += not ping
                verdict = f'{{"strengths": "-", "weaknesses": "-", "score": "{fake.score}"}}'
                message = {"role": "assistant", "content": verdict}
                choice = {"index": 0, "finish_reason": "stop", "message": message}
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"]}
                self._send(200, {**reply, "choices": [choice]})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self._httpd

    def close(self) -> None:
        self.set("down")


@pytest.fixture()
def fake_judge():
    server = FakeJudgeServer()
    yield server
    server.close()
