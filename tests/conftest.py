"""Shared fixtures: the smoke profile, its tokenizer and tiny random model, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smoke_profile():
    from experiments.paths import load_named_profile

    return load_named_profile("smoke")


@pytest.fixture(scope="session")
def tokenizer(smoke_profile):
    from care_rl.models import profile_tokenizer

    return profile_tokenizer(smoke_profile)


@pytest.fixture()
def smoke_model(smoke_profile, tokenizer):
    from care_rl.models import load_model

    return load_model(smoke_profile.policy, tokenizer)
