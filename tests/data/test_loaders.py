"""Loaders on the shipped minis: raw rows match the declared real schema, mappings are right on
hand-checked rows, and the hub code path (rows through ``datasets``) maps to the same records."""

from __future__ import annotations

import json

import pytest

from care_rl.config import ConfigError
from care_rl.data import loaders
from care_rl.data.eval_sets import gsm8k_final_answer
from care_rl.data.io import read_json_file, read_rows
from care_rl.data.judge_sets import helpsteer3_to_records

TABLE_SPECS = [s for s in loaders.SPECS.values() if s.reader is None]


def _matches(value, declared) -> bool:
    types = declared if isinstance(declared, tuple) else (declared,)
    return any(
        value is None if t is None else isinstance(value, t) and not (t is int and isinstance(value, bool))
        for t in types
    )


@pytest.mark.parametrize("spec", TABLE_SPECS, ids=lambda s: s.name)
def test_mini_rows_follow_declared_schema(spec):
    rows = read_json_file(spec.mini_path)
    assert rows, spec.mini_path
    for row in rows:
        assert list(row) == list(spec.columns), f"{spec.name}: keys {list(row)}"
        for key, declared in spec.columns.items():
            assert _matches(row[key], declared), f"{spec.name}.{key} = {row[key]!r} is not {declared}"


@pytest.mark.parametrize("spec", TABLE_SPECS, ids=lambda s: s.name)
def test_hub_code_path_through_datasets_maps_identically(spec):
    """Offline stand-in for the hub: the mini file through datasets.load_dataset('json') (which fills
    struct unions with nulls) must give exactly the records the plain reader gives."""
    import datasets

    ds = datasets.load_dataset("json", data_files=str(spec.mini_path), split="train")
    via_datasets = [r for row in ds.to_list() for r in spec.to_records(row)]
    assert via_datasets == loaders.load_records(spec.name, "mini")


def test_cw3_prompt_file_schema_and_seed_fill():
    prompts = read_json_file(loaders.SPECS["cw3"].mini_path / "creative_writing_prompts_v3.json")
    for pid, p in prompts.items():
        assert pid.isdigit() and set(p) == {"category", "title", "writing_prompt", "seed_modifiers"}
        assert "<SEED>" in p["writing_prompt"] and all(isinstance(m, str) for m in p["seed_modifiers"])
    items = loaders.load_eval("cw3", "mini")
    first = prompts["1"]
    assert items[0].messages[0]["content"] == first["writing_prompt"].replace(
        "<SEED>", first["seed_modifiers"][0]
    )
    assert items[0].reference["criteria"] and items[0].reference["negative_criteria"]


def test_math_mappings_hand_checked():
    aime = loaders.load_records("aime_1983_2024", "mini")
    raw = read_json_file(loaders.SPECS["aime_1983_2024"].mini_path)[0]
    assert aime[0].id == f"aime-{raw['ID']}" and aime[0].answer == str(raw["Answer"])
    assert aime[0].messages == [{"role": "user", "content": raw["Question"]}]
    assert gsm8k_final_answer("so 3 + 4 = <<3+4=7>>7\n#### 1,234") == "1234"
    with pytest.raises(ValueError, match="####"):
        gsm8k_final_answer("no marker")
    fractions = [it for it in loaders.load_eval("math500", "mini") if "frac" in it.reference["answer"]]
    assert fractions, "MATH-500 mini should hold LaTeX fraction answers"


def test_chat_and_if_mappings_hand_checked():
    nr_raw = read_json_file(loaders.SPECS["no_robots"].mini_path)
    system_row = next(r for r in nr_raw if r["messages"][0]["role"] == "system")
    (rec,) = loaders.SPECS["no_robots"].to_records(system_row)
    assert (
        rec.messages == system_row["messages"][:-1] and rec.reference == system_row["messages"][-1]["content"]
    )
    rl = loaders.load_records("rlvr_ifeval", "mini")[0]
    gt = json.loads(rl.ground_truth)
    assert gt["func_name"] and len(gt) == 14
    ife = loaders.load_eval("ifeval", "mini")
    assert all(len(i.reference["instruction_id_list"]) == len(i.reference["kwargs"]) for i in ife)


def test_judge_and_pair_mappings_hand_checked():
    jb_raw = read_json_file(loaders.SPECS["judgebench"].mini_path)
    for raw, item in zip(jb_raw, loaders.load_judge("judgebench", "mini"), strict=True):
        winner = raw["response_A"] if raw["label"] == "A>B" else raw["response_B"]
        assert item.chosen == [winner] and winner not in item.rejected
    ties = [i for i in loaders.load_judge("rewardbench2", "mini") if i.subset == "Ties"]
    # RewardBench 2 pairs each Ties prompt as "ref:<k>" (one correct answer) and "tied:<k>" (several)
    assert ties and {t.id.partition(":")[0] for t in ties} == {"ref", "tied"}
    assert all(len(t.chosen) == 1 for t in ties if t.id.startswith("ref:"))
    assert all(len(t.chosen) > 1 for t in ties if t.id.startswith("tied:"))
    tied_ids = {t.id.partition(":")[2] for t in ties if t.id.startswith("tied:")}
    assert tied_ids == {t.id.partition(":")[2] for t in ties if t.id.startswith("ref:")}
    row = {
        "context": [{"role": "user", "content": "q"}],
        "response1": "a",
        "response2": "b",
        "overall_preference": -3,
        "domain": "stem",
        "language": "english",
        "individual_preference": [],
    }
    r1, r2 = helpsteer3_to_records(row)
    assert (r1.human_score, r2.human_score) == (1.0, 0.0)
    uf = loaders.load_pairs("ultrafeedback", "mini")
    assert all(p.human_score is not None and 0.0 <= p.human_score <= 1.0 for p in uf)


def test_unknown_names_and_missing_files_raise(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown dataset 'mathh'.*math500"):
        loaders.load_eval("mathh", "mini")
    with pytest.raises(ConfigError, match=r"unknown domain.*'code'.*\['chat', 'if', 'math'\]"):
        loaders.load_train("code", "mini", 8, 42)
    with pytest.raises(ConfigError, match="unknown data source 'web'"):
        loaders.load_eval("gsm8k", "web")
    with pytest.raises(ConfigError, match="judge dataset"):
        loaders.check_names("judge", ["rewardbench2", "nope"])
    monkeypatch.setattr("care_rl.data.spec.MINI_DIR", tmp_path)
    with pytest.raises(ConfigError, match=str(tmp_path / "gsm8k.jsonl")):
        read_rows(loaders.SPECS["gsm8k"], "mini")


def test_hub_source_reads_a_local_copy_under_the_cache(tmp_path, monkeypatch):
    """An offline machine (or the paper-dryrun profile) keeps a hub dataset's file under
    <cache>/datasets/<hub id>/[<config>/]<split>.jsonl; the hub path reads it, through datasets."""
    import shutil

    from care_rl.data.io import local_hub_file

    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))
    spec = loaders.spec_for("gsm8k")
    target = local_hub_file(spec)
    assert target == tmp_path / "datasets" / "openai" / "gsm8k" / "main" / "test.jsonl"
    target.parent.mkdir(parents=True)
    shutil.copy(spec.mini_path, target)
    assert loaders.load_eval("gsm8k", "hub") == loaders.load_eval("gsm8k", "mini")
