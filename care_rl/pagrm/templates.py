"""PA-GRM prompt templates: files in ``templates/``, rendered with ``string.Template`` ($-placeholders).

Templates are files so a reader can see exactly what the judge is asked, and so the SFT data
(``training/sft.py``) and inference render the very same text. Lines starting with ``#`` are provenance notes
for humans and are stripped before rendering. ``TEMPLATE_DIGEST`` changes whenever any template
changes; cached protocols carry it, so an edited template never reuses a stale cached schema.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, Literal

from care_rl.judges.base import Conversation

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ProtocolMode = Literal["pagrm", "holistic", "rubric"]


@cache
def load_template(name: str) -> Template:
    path = TEMPLATE_DIR / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"PA-GRM template {path} not found")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return Template("\n".join(lines).strip())


def _digest() -> str:
    h = hashlib.sha256()
    for path in sorted(TEMPLATE_DIR.glob("*.txt")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


TEMPLATE_DIGEST = _digest()


def _user(content: str) -> Conversation:
    return [{"role": "user", "content": content}]


def protocol_conversation(prompt: str, mode: ProtocolMode) -> Conversation:
    """Step 1: route the prompt to a protocol (or use the forced one) and build its schema."""
    choice = load_template(f"choice_{mode}").substitute()
    return _user(load_template("protocol").substitute(choice=choice, prompt=prompt))


def score_conversation(
    prompt: str, protocol: str, schema: list[dict[str, Any]], response: str
) -> Conversation:
    """Step 2: score one response under the prompt's fixed schema."""
    rendered = json.dumps(schema, ensure_ascii=False, indent=1)
    return _user(
        load_template(f"score_{protocol}").substitute(prompt=prompt, schema=rendered, response=response)
    )


def direct_conversation(prompt: str, response: str) -> Conversation:
    """The Direct baseline: one call, scalar score, no protocol."""
    return _user(load_template("direct").substitute(prompt=prompt, response=response))


#: The reply a rating judge is begun with; the 1-10 score is read at the next token (direct_rating.txt).
DIRECT_ANSWER_PREFIX = '{"score": "'


def direct_rating_conversation(prompt: str, response: str) -> Conversation:
    """The Direct baseline for an expected-rating judge: same question, reply begun with the prefix."""
    return _user(load_template("direct_rating").substitute(prompt=prompt, response=response))
