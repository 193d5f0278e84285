"""An English part-of-speech tagger for NLTK, loaded from an installed wheel instead of downloaded.

IFBench's ``words:start_verb`` asks ``nltk.pos_tag`` whether a response's first token is a verb. That
needs NLTK's ``averaged_perceptron_tagger_eng`` model, which only ``nltk.download`` provides -- and
downloads are impossible offline. NLTK's tagger is a port of Matthew Honnibal's greedy averaged
perceptron, whose own WSJ-trained model ships inside the PyPI wheel ``textblob-aptagger`` (MIT). We
read that model and hand it to NLTK's unchanged :class:`~nltk.tag.perceptron.PerceptronTagger`, so
the features, normalisation and decoding are NLTK's. The weights are Honnibal's 2013 release rather
than NLTK's own ``averaged_perceptron_tagger_eng`` (NLTK's files are on no package registry, so a fresh
machine could not install them). The tag set is the same Penn Treebank set, but tags differ: the verb
decision on a response's first token differs from NLTK's model on about one response in fifty, both
ways: a leading ``*`` or ``(`` is a verb here and "Let" or "Does" a noun, while NLTK's model calls a
capitalised "Write" or "Are" a proper noun. scripts/verifier_agreement/ measures it against NLTK's
model on every IFBench and IFEval input (docs/verifier_agreement.md).

The model is a Python 2 pickle. It is read with an unpickler that can build nothing but plain
containers (it has one ``set``), so a tampered file cannot execute code.
"""

from __future__ import annotations

import importlib.metadata
import pickle
from functools import cache
from pathlib import Path
from typing import Any

from nltk.tag.perceptron import PerceptronTagger

DISTRIBUTION = "textblob-aptagger"
MODEL_FILE = "textblob_aptagger/trontagger-0.1.0.pickle"


class _ContainersOnly(pickle.Unpickler):
    """Unpickler that resolves ``set`` and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in {("__builtin__", "set"), ("builtins", "set")}:
            return set
        raise pickle.UnpicklingError(f"tagger model may not reference {module}.{name}")


def model_path() -> Path:
    """Where the installed wheel keeps the model (found through package metadata, without importing
    ``textblob_aptagger``, whose import would pull in TextBlob)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as err:
        raise RuntimeError(
            f"the POS tagger model needs the PyPI package {DISTRIBUTION!r}; pip install it"
        ) from err
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise RuntimeError(f"{DISTRIBUTION} is installed but its model {path} is missing")
    return path


def load_tagger(path: Path | None = None) -> PerceptronTagger:
    """NLTK's perceptron tagger carrying the model at ``path`` (default: :func:`model_path`)."""
    path = path if path is not None else model_path()
    with path.open("rb") as handle:
        try:
            weights, tagdict, classes = _ContainersOnly(handle, encoding="utf-8").load()
        except (pickle.UnpicklingError, ValueError, EOFError) as err:
            raise RuntimeError(f"{path}: not a (weights, tagdict, classes) tagger model: {err}") from err
    if not (isinstance(weights, dict) and isinstance(tagdict, dict) and isinstance(classes, set)):
        raise RuntimeError(
            f"{path}: expected (dict, dict, set), got {type(weights), type(tagdict), type(classes)}"
        )
    tagger = PerceptronTagger(load=False)
    tagger.model.weights = weights
    tagger.tagdict = tagdict
    tagger.classes = tagger.model.classes = classes
    return tagger


@cache
def _english_tagger() -> PerceptronTagger:
    return load_tagger()


def pos_tag(tokens: list[str]) -> list[tuple[str, str]]:
    """Penn Treebank tags for ``tokens``, as ``nltk.pos_tag`` returns them (model loaded once)."""
    if isinstance(tokens, str):
        raise TypeError("pos_tag expects a list of tokens, not a string")
    return _english_tagger().tag(tokens)
