"""Chat scorers with expected-rating judges: the combine formulas on scripted ratings, a finite score
for every sample on the smoke judge, and the rating templates and config rule."""

from __future__ import annotations

import pytest

from care_rl.config import JudgeSpec
from care_rl.data.loaders import load_eval
from care_rl.data.records import EvalItem
from care_rl.judges import ScriptedBackend, build_backend
from care_rl.judges.base import JudgeStats
from care_rl.judges.rating import Rating, check_prefix
from eval import scorers
from eval.benchmarks import BENCHMARKS
from eval.judging import TEMPLATES_DIR, load_rating_template


class RatingJudge:
    """An expected-rating judge whose ratings come from ``reply(user prompt)`` (a number or None)."""

    scoring = "expected_rating"

    def __init__(self, reply, mass: float = 0.5, name: str = "rater") -> None:
        self.name, self.reply, self.mass = name, reply, mass
        self.stats = JudgeStats()
        self.calls: list[tuple[list[str], str, range]] = []

    def complete(self, conversations, max_new_tokens=None):
        raise AssertionError("an expected-rating judge must not be asked to generate")

    def rate(self, conversations, answer_prefix, scale):
        prompts = [c[-1]["content"] for c in conversations]
        self.calls.append((prompts, answer_prefix, scale))
        out = []
        for p in prompts:
            r = self.reply(p)
            out.append(None if r is None else Rating({r: 1.0}, self.mass))
        return out


def _item(benchmark: str, reference: dict, text: str = "Write about rain.") -> EvalItem:
    return EvalItem(benchmark, "chat", f"{benchmark}-1", [{"role": "user", "content": text}], reference)


def test_wildbench_expected_rating_is_rescaled_and_averaged_with_a_generating_judge():
    item = _item("wildbench", {"checklist": ["Is it helpful?"]})
    rater = RatingJudge(lambda p: 7.5 if "good answer" in p else 3.0)
    writer = ScriptedBackend(['{"score": "6"}', '{"score": "6"}'])
    out = scorers.score_wildbench([(item, "good answer"), (item, "bad")], [rater, writer])
    assert out[0].score == pytest.approx(((7.5 - 5) * 20 + 20.0) / 2)
    assert out[1].score == pytest.approx(((3.0 - 5) * 20 + 20.0) / 2)
    ((prompts, prefix, scale),) = rater.calls
    assert prefix == '{"score": "' and scale == range(1, 11) and len(prompts) == 2
    assert "%%" not in prompts[0] and "- Is it helpful?" in prompts[0]
    row = out[0].detail["judges"][0]
    assert row["status"] == "ok" and row["ratings"] == [{"expected": 7.5, "mass": 0.5}]


def test_cw3_rates_each_criterion_of_each_sample_in_one_call_and_inverts_negatives():
    item = _item("cw3", {"criteria": ["Imagery", "Coherent"], "negative_criteria": ["Purple Prose"]})
    scores = {"Imagery": 16.0, "Coherent": 12.0, "Purple Prose": 4.0}
    rater = RatingJudge(lambda p: next(v for k, v in scores.items() if p.endswith(f"Criterion: {k}")))
    out = scorers.score_cw3([(item, "story one"), (item, "story two")], [rater])
    assert [s.score for s in out] == pytest.approx([5.0 * (16 + 12 + 16) / 3] * 2)
    ((prompts, _, scale),) = rater.calls
    assert len(prompts) == 6 and scale == range(0, 21)  # 2 samples x 3 criteria, one batch


def test_researchqa_levels_map_to_coverage_and_a_failed_rating_makes_the_sample_missing():
    item = _item("researchqa", {"rubric": [{"rubric_item": "Names a mechanism."}, {"rubric_item": "Cites."}]})
    rater = RatingJudge(lambda p: None if "broken" in p else (5.0 if "Cites." in p else 2.0))
    out = scorers.score_researchqa([(item, "answer"), (item, "broken answer")], [rater])
    assert out[0].score == pytest.approx(100.0 * ((5 - 1) / 4 + (2 - 1) / 4) / 2)
    assert out[1].score is None and out[1].detail["n_judges_missing"] == 1
    assert out[1].detail["judges"][0]["status"] == "failed"


def test_no_mass_on_the_scale_is_missing_not_zero():
    item = _item("wildbench", {"checklist": ["x"]})
    rater = RatingJudge(lambda p: 5.0, mass=0.0)
    (out,) = scorers.score_wildbench([(item, "a")], [rater])
    assert out.score is None and out.detail["judges"][0]["status"] == "off_scale"


@pytest.mark.parametrize("name", ["wildbench", "cw3", "researchqa"])
def test_rating_templates_are_marked_variants_with_a_digit_safe_prefix(name, tokenizer):
    text = (TEMPLATES_DIR / f"{name}_rating.txt").read_text(encoding="utf-8")
    assert text.startswith(f"%% Expected-rating variant of {name}.txt")
    template, prefix = load_rating_template(name)
    assert "%%" not in template.template and not template.template.endswith("\n\n")
    check_prefix(tokenizer, prefix)


def test_expected_rating_needs_a_local_judge():
    with pytest.raises(ValueError, match="needs backend 'local'"):
        JudgeSpec(backend="openai", base_url="http://x", model_name="m", scoring="expected_rating")


def test_smoke_judge_gives_every_sample_a_finite_score(smoke_profile):
    spec = smoke_profile.judge.model_copy(update={"scoring": "expected_rating"})
    judge = build_backend(spec, tokenizer_spec=smoke_profile.tokenizer, batch_size=8)
    assert judge.scoring == "expected_rating"
    bounds = {"wildbench": (-80.0, 100.0), "cw3": (0.0, 100.0), "researchqa": (0.0, 100.0)}
    for name, (lo, hi) in bounds.items():
        items = load_eval(BENCHMARKS[name].loader, "mini")[:1]
        pairs = [(it, text) for it in items for text in ("A short answer.", "Another, longer answer here.")]
        out = BENCHMARKS[name].scorer(pairs, [judge])
        assert len(out) == len(pairs)
        for s in out:
            assert s.score is not None and lo <= s.score <= hi, (name, s)
            row = s.detail["judges"][0]
            assert row["status"] == "ok" and all(0.0 < r["mass"] <= 1.0 for r in row["ratings"])
    assert judge.stats.failures == 0
