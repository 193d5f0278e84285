"""Does every judge endpoint of the panel answer -- before any compute, and after judgments failed?

A chat benchmark scored while its judge is down yields nothing but failed judgments after the
model has generated every sample. So each OpenAI-compatible judge is asked for a one-token chat
completion first -- the request the evaluation will send, so a wrong model name or a rejected key
shows too -- and a judge that does not answer is one error naming its URL. Local judges need no
check. Plain ``urllib``: the check runs before the heavy imports of an evaluation.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from care_rl.config import ConfigError, JudgeSpec

PING_TIMEOUT_S = 30.0  # the check's own bound; a judge's timeout_s may be minutes for long verdicts


def _reason(error: BaseException) -> str:
    """A readable cause: 'Connection refused', not ``ConnectionRefusedError(111, ...)``."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    return getattr(reason, "strerror", None) or str(reason) or type(reason).__name__


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read().decode("utf-8", errors="replace"))
        message = body.get("error", {}).get("message") or body.get("message") or ""
    except (ValueError, AttributeError):
        message = ""
    return f": {message}" if message else ""


def endpoint_problem(spec: JudgeSpec) -> str | None:
    """Why the judge ``spec`` names cannot be used now, or ``None`` if it answers (or is local)."""
    if spec.backend != "openai":
        return None
    try:
        base_url = spec.endpoint_url()  # ${VAR} references expanded
    except ConfigError as e:
        return str(e)
    where = f"judge {spec.model_name!r} at {base_url}"
    headers = {"Content-Type": "application/json"}
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            return f"{where}: environment variable {spec.api_key_env!r} (api_key_env) is not set"
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": spec.model_name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    url = f"{base_url.rstrip('/')}/chat/completions"
    request = urllib.request.Request(url, json.dumps(body).encode("utf-8"), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=min(spec.timeout_s, PING_TIMEOUT_S)):
            return None
    except urllib.error.HTTPError as e:
        return f"{where} answered HTTP {e.code}{_server_message(e)}"
    except (urllib.error.URLError, OSError) as e:
        return f"{where} does not answer ({_reason(e)})"


def check_judge_endpoints(specs: Sequence[JudgeSpec]) -> None:
    """Raise one ``ConfigError`` naming every judge endpoint that does not answer."""
    problems = [p for p in map(endpoint_problem, specs) if p is not None]
    if problems:
        raise ConfigError(
            "; ".join(problems) + ". Start the judge server or fix the profile's judge base_url / model_name"
        )


def judge_failure_report(summary: Mapping[str, Mapping[str, Any]], specs: Sequence[JudgeSpec]) -> str | None:
    """One line on the failed judgments an evaluation summary counts -- how many, in which benchmarks,
    and whether each endpoint answers now -- or ``None`` if there are none."""
    failed = {name: row["n_judge_failed"] for name, row in summary.items() if row.get("n_judge_failed")}
    if not failed:
        return None
    where = ", ".join(f"{name}: {n}" for name, n in failed.items())
    down = [p for p in map(endpoint_problem, specs) if p is not None]
    now = "; now " + "; ".join(down) if down else " (every judge answers again now)"
    return (
        f"{sum(failed.values())} judgment(s) failed ({where}): the judge did not answer after its retries"
        f"{now}. Failed judgments are not cached; rerun the same command to retry them"
    )
