"""IFEval through lm-eval's official verifier, offline (punkt_tab from the installed wheel)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import pytest

from care_rl.rewards.unscorable import Unscorable
from eval.verifiers.ifeval import score_ifeval

PROMPT_1000 = (
    'Write a 300+ word summary of the wikipedia page "https://en.wikipedia.org/wiki/Raymond_III,_Count_of_Tripoli". '
    "Do not use any commas and highlight at least 3 sections that has titles in markdown format, for example "
    "*highlighted section part 1*, *highlighted section part 2*, *highlighted section part 3*."
)
IDS_1000 = [
    "punctuation:no_comma",
    "detectable_format:number_highlighted_sections",
    "length_constraints:number_words",
]
KWARGS_1000 = [{}, {"num_highlights": 3}, {"relation": "at least", "num_words": 300}]


def test_real_prompt_all_followed_and_partly_followed() -> None:
    body = " ".join(["Raymond ruled Tripoli and fought in the Crusades."] * 45)
    good = f"*Early life* {body} *Regency* {body} *Legacy* text."
    result = score_ifeval(good, IDS_1000, KWARGS_1000, PROMPT_1000)
    assert result == {
        "prompt_strict": True,
        "prompt_loose": True,
        "inst_strict": [True] * 3,
        "inst_loose": [True] * 3,
    }

    short = "*Early life* Raymond, Count of Tripoli. *Regency* He ruled."
    result = score_ifeval(short, IDS_1000, KWARGS_1000, PROMPT_1000)
    assert result["inst_strict"] == [False, False, False]
    assert not result["prompt_strict"]


def test_sentence_count_uses_punkt() -> None:
    """ "Dr." and "U.S." are Punkt abbreviations: three sentences, not five."""
    ids, kwargs = ["length_constraints:number_sentences"], [{"relation": "less than", "num_sentences": 4}]
    text = "Dr. Smith went home. He was tired. Then U.S. officials called."
    assert score_ifeval(text, ids, kwargs, "Answer in fewer than 4 sentences.")["inst_strict"] == [True]
    more = text + " He left. She stayed."
    assert score_ifeval(more, ids, kwargs, "Answer in fewer than 4 sentences.")["inst_strict"] == [False]


def test_loose_forgives_a_preamble_line() -> None:
    ids, kwargs = ["change_case:english_lowercase"], [{}]
    response = "Sure! Here It Is:\nthe whole answer is in lowercase letters like you asked for today."
    result = score_ifeval(response, ids, kwargs, "Answer in lowercase only.")
    assert result["inst_strict"] == [False]
    assert result["inst_loose"] == [True]


def test_repeat_prompt_gets_the_prompt() -> None:
    ids = ["combination:repeat_prompt"]
    kwargs = [{"prompt_to_repeat": "Write a haiku about rain."}]
    prompt = "Write a haiku about rain. First repeat the request word for word without change."
    assert score_ifeval("Write a haiku about rain. Drops fall...", ids, kwargs, prompt)["prompt_strict"]
    assert not score_ifeval("Haiku: drops fall...", ids, kwargs, prompt)["prompt_strict"]


def test_bad_ids_and_kwargs_are_unscorable() -> None:
    with pytest.raises(Unscorable, match="unknown instruction id: \\['format:nonsense'\\]"):
        score_ifeval("x", ["format:nonsense"], [{}], "p")
    with pytest.raises(Unscorable, match="1 ids, 2 kwargs"):
        score_ifeval("x", ["punctuation:no_comma"], [{}, {}], "p")


def test_letter_frequency_with_a_non_letter_is_reproducible() -> None:
    """lm-eval's checker replaces a ``letter`` that is not a letter by random.choice on the global
    generator; under our fixed seed the score is the same whatever the caller's random state, and
    that state is left as it was."""
    text = "abcdefghijklm " * 3  # half the alphabet, three times each
    ids, kwargs = (
        ["keywords:letter_frequency"],
        [{"letter": "1", "let_frequency": 3, "let_relation": "at least"}],
    )
    verdicts = set()
    for seed in range(40):
        random.seed(seed)
        state = random.getstate()
        verdicts.add(score_ifeval(text, ids, kwargs, "p")["inst_strict"][0])
        assert random.getstate() == state
    assert len(verdicts) == 1


def test_fresh_cache_works_without_any_download(tmp_path) -> None:
    """A fresh machine: empty cache, no NLTK data, and nltk.download made to fail loudly."""
    script = textwrap.dedent(
        """
        import nltk
        def _no_network(*args, **kwargs):
            raise AssertionError("nltk.download was called")
        nltk.download = _no_network
        from eval.verifiers.ifeval import score_ifeval
        r = score_ifeval("One. Two. Three.", ["length_constraints:number_sentences"],
                         [{"relation": "at least", "num_sentences": 3}], "p")
        assert r["inst_strict"] == [True], r
        print("ok")
        """
    )
    env = {
        **os.environ,
        "CARE_RL_CACHE": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "NLTK_DATA": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert (tmp_path / "nltk_data" / "tokenizers" / "punkt_tab" / "english" / "ortho_context.tab").is_file()
