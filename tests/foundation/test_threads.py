"""CPU runs take one torch thread per process unless OMP_NUM_THREADS says otherwise, and say when the
cores are already busy."""

from __future__ import annotations

import logging

import pytest
import torch

from care_rl import threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_one_thread_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.configure_threads("cpu", env={}) == 1 and torch.get_num_threads() == 1
    assert threads.configure_threads("cpu", env={"OMP_NUM_THREADS": "2"}) == 2
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='two'"):
        threads.configure_threads("cpu", env={"OMP_NUM_THREADS": "two"})


def test_busy_cores_are_reported(monkeypatch, caplog):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.5, 3.0, 2.0))
    with caplog.at_level(logging.WARNING, logger="care_rl.threads"):
        threads.configure_threads("cpu", env={})
    assert "load average is already 3.5" in caplog.text
    caplog.clear()
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.4, 0.3, 0.2))
    with caplog.at_level(logging.WARNING, logger="care_rl.threads"):
        threads.configure_threads("cpu", env={})
    assert caplog.text == ""


def test_gpu_runs_keep_torchs_choice(monkeypatch):
    torch.set_num_threads(1)
    assert threads.configure_threads("cuda", env={"OMP_NUM_THREADS": "2"}) == 1


def test_worker_processes_count_in_the_check(monkeypatch, caplog):
    """Two 1-thread workers fill a quiet 2-core machine; a third process would share a core."""
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    with caplog.at_level(logging.WARNING, logger="care_rl.threads"):
        assert threads.configure_threads("cpu", env={}, processes=2) == 1
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING, logger="care_rl.threads"):
        threads.configure_threads("cpu", env={}, processes=3)
    assert "3 process(es) of 1 torch thread(s) on 2 cores" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="care_rl.threads"):
        threads.configure_threads("cpu", env={}, processes=3, check_load=False)  # a worker's call
    assert caplog.text == ""
