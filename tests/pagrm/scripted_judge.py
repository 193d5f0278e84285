"""A scripted PA-GRM judge for tests: protocol JSON for step-1 prompts, scores keyed by the response text."""

from __future__ import annotations

import json

from care_rl.judges import ScriptedBackend

RUBRIC = {
    "protocol": "rubric",
    "schema": [{"criterion": "lists three fruits", "weight": 2, "type": "format"}],
}
HOLISTIC = {"protocol": "holistic", "schema": [{"aspect": "imagery", "guidance": "vivid, concrete images"}]}

FAILURES = {
    "EMPTY": "   ",
    "MALFORMED": '{"reasoning": "ok", "score": 7',
    "NOSCORE": '{"reasoning": "ok", "judgments": []}',
    "RANGE": '{"reasoning": "ok", "score": 11}',
    "BADTYPE": '{"reasoning": "ok", "score": "seven"}',
}


def is_protocol_call(conv) -> bool:
    return "design the evaluation standard" in conv[-1]["content"]


def reply(conv) -> str | None:
    text = conv[-1]["content"]
    if is_protocol_call(conv):
        if "FORCE_WRONG" in text:
            return json.dumps(RUBRIC if 'holistic" protocol for' in text else HOLISTIC)
        return json.dumps(RUBRIC if "list" in text.split("[User request]")[-1] else HOLISTIC)
    response = text.split("[Response]")[-1].strip()
    if response == "TIMEOUT":
        raise TimeoutError("simulated judge timeout")
    if response in FAILURES:
        return FAILURES[response]
    score = min(10, 1 + len(response.split()))
    key = "criterion" if "[Rubric]" in text else "aspect"
    name = RUBRIC["schema"][0]["criterion"] if key == "criterion" else HOLISTIC["schema"][0]["aspect"]
    judgment = (
        {key: name, "satisfaction": "met", "evidence": "x"}
        if key == "criterion"
        else {key: name, "judgment": "x"}
    )
    judgments = [] if "[Considerations]" not in text and "[Rubric]" not in text else [judgment]
    return (
        "Here is my verdict:\n```json\n"
        + json.dumps({"judgments": judgments, "reasoning": "r", "score": score})
        + "\n```"
    )


def backend() -> ScriptedBackend:
    return ScriptedBackend(reply, name="scripted-judge")
