"""care_rl.locks: one holder per cache entry; a caller that will not wait is told who holds it, and the
lock goes with its holder."""

from __future__ import annotations

import pytest

from care_rl import locks


def test_a_held_entry_is_busy_until_released(tmp_path):
    entry = tmp_path / "stages" / "abc123"
    with locks.hold(entry):
        assert locks.lock_path(entry) == tmp_path / "stages" / ".abc123.lock"
        busy = pytest.raises(locks.Busy, match=r"abc123 is being made by another process \(pid \d+\)")
        with busy, locks.hold(entry, wait=False):
            pass
        with locks.hold(tmp_path / "stages" / "other", wait=False):  # another entry is free
            pass
    with locks.hold(entry, wait=False):  # released at the end of the block
        pass
    assert not entry.exists()  # the lock sits beside the entry, never in it


def test_a_raising_block_releases_the_lock(tmp_path):
    entry = tmp_path / "eval" / "smoke-base"
    with pytest.raises(ValueError), locks.hold(entry):
        raise ValueError("the evaluation failed")
    with locks.hold(entry, wait=False):
        pass
