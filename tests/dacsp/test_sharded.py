"""Sharded == unsharded: two gloo ranks with uneven row shards, both backends."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from care_rl.config import DacspSpec
from care_rl.dacsp import FactoredBasis, HistoricalBasis, modulate
from care_rl.dacsp.sharded import modulate_sharded, shard_rows
from tests.dacsp.helpers import random_directions

SHAPES = [(7, 5), (9,)]
SPLIT = {7: [(0, 2), (2, 7)], 9: [(0, 6), (6, 9)]}  # uneven row shards per rank


def problem(shape):
    update = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    dirs = random_directions(shape, 2, seed=2)
    return update, dirs


def worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    results = {}
    for cls in (HistoricalBasis, FactoredBasis):
        for shape in SHAPES:
            update, dirs = problem(shape)
            start, stop = SPLIT[shape[0]][rank]
            shard = shard_rows(cls.from_directions(dirs), start, stop)
            results[(cls.__name__, shape)] = modulate_sharded(
                update[start:stop], shard, DacspSpec(alpha=1.2, beta=0.5)
            )
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sharded_equals_unsharded_with_gloo(tmp_path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for cls in (HistoricalBasis, FactoredBasis):
        for shape in SHAPES:
            update, dirs = problem(shape)
            full = modulate(update, cls.from_directions(dirs), DacspSpec(alpha=1.2, beta=0.5))
            sharded = torch.cat([p[(cls.__name__, shape)] for p in parts])
            assert not torch.allclose(full, update, atol=1e-4)  # modulation is not trivial here
            assert torch.allclose(sharded, full, atol=1e-6), (cls.__name__, shape)
