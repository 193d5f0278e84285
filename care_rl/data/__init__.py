"""Data layer: loaders for every dataset the paper uses (hub or shipped mini stand-ins), the
per-domain training sampler and the eval cap sampler. See ``loaders`` for the entry points."""

from care_rl.data.loaders import check_names, load_eval, load_judge, load_pairs, load_records, load_train
from care_rl.data.selection import cap_sample, seeded_sample

__all__ = [
    "cap_sample",
    "check_names",
    "load_eval",
    "load_judge",
    "load_pairs",
    "load_records",
    "load_train",
    "seeded_sample",
]
