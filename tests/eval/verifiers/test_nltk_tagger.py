"""The packaged POS tagger: real Penn tags through NLTK's tagger, and a model loader that runs no code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from eval.verifiers import nltk_tagger


def test_tags_imperatives_and_declaratives_like_a_wsj_tagger() -> None:
    tags = [t for _, t in nltk_tagger.pos_tag(["Write", "a", "short", "poem", "about", "cats", "."])]
    assert tags == ["VB", "DT", "JJ", "NN", "IN", "NNS", "."]
    assert nltk_tagger.pos_tag(["The", "cat", "sat"])[0] == ("The", "DT")


def test_string_input_is_rejected() -> None:
    with pytest.raises(TypeError, match="list of tokens"):
        nltk_tagger.pos_tag("Write a poem")  # type: ignore[arg-type]


def test_loader_refuses_pickled_callables(tmp_path: Path) -> None:
    bad = tmp_path / "model.pickle"
    bad.write_bytes(pickle.dumps(({}, {}, {Path("x")}), protocol=2))
    with pytest.raises(RuntimeError, match="may not reference pathlib"):
        nltk_tagger.load_tagger(bad)


def test_loader_checks_the_model_shape(tmp_path: Path) -> None:
    odd = tmp_path / "model.pickle"
    odd.write_bytes(pickle.dumps(({}, {}, ["NN"]), protocol=2))
    with pytest.raises(RuntimeError, match="expected \\(dict, dict, set\\)"):
        nltk_tagger.load_tagger(odd)


def test_missing_distribution_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nltk_tagger, "DISTRIBUTION", "no-such-dist-care-rl")
    with pytest.raises(RuntimeError, match="no-such-dist-care-rl"):
        nltk_tagger.model_path()
