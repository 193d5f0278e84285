"""The mini generator is deterministic (regenerates the shipped bytes) and training (with its held-out
stand-ins) and evaluation minis share no text (normalised exact match, token 5-gram Jaccard < 0.8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from care_rl.data import loaders
from care_rl.data.spec import MINI_DIR

REPO = Path(__file__).resolve().parents[2]


def test_generator_reproduces_shipped_files_byte_for_byte(tmp_path):
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_mini_data.py"), "--out", str(tmp_path)],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(MINI_DIR) for p in MINI_DIR.rglob("*") if p.is_file() and p.name != "README.md"
    )
    assert generated == shipped
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (MINI_DIR / rel).read_bytes(), rel
    assert sum((MINI_DIR / r).stat().st_size for r in shipped) < 1_000_000


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()


def _grams(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    t = _tokens(text)
    return frozenset(tuple(t[i : i + n]) for i in range(max(1, len(t) - n + 1)))


def test_train_and_eval_minis_do_not_overlap():
    train = [p.text for d in ("math", "chat", "if") for p in loaders.load_train(d, "mini", 10_000, 42)]
    train += [p.text for d in ("math", "chat", "if") for p in loaders.load_heldout(d, "mini", 10_000, 16, 42)]
    train += [p.prompt for s in loaders.PAIR_SOURCES for p in loaders.load_pairs(s, "mini")]
    evals = [i.text for b in loaders.EVAL_BENCHMARKS for i in loaders.load_eval(b, "mini")]
    train_norm = {" ".join(_tokens(t)) for t in train}
    assert not train_norm & {" ".join(_tokens(e)) for e in evals}
    train_grams = [_grams(t) for t in train]
    worst = 0.0
    for e in evals:
        eg = _grams(e)
        for tg in train_grams:
            if eg & tg:
                worst = max(worst, len(eg & tg) / len(eg | tg))
    assert worst < 0.8, worst
