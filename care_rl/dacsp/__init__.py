"""DACSP (paper section 3.2): capability directions, historical bases, direction-aware modulation.

Pure torch; no trainer imports. See care_rl/dacsp/README.md for the decisions the paper leaves open.
"""

from care_rl.dacsp.basis import DEFAULT_TOL, Basis, HistoricalBasis
from care_rl.dacsp.directions import capability_directions, capability_factors, matrix_view
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.hook import DacspHandle, attach_dacsp
from care_rl.dacsp.lora import LoraUnit, lora_directions, lora_pairs
from care_rl.dacsp.modulate import Decomposition, correction_weights, decompose, modulate
from care_rl.dacsp.stages import BasisBank, task_vectors
from care_rl.dacsp.telemetry import chance_level, chance_levels

__all__ = [
    "DEFAULT_TOL",
    "Basis",
    "BasisBank",
    "DacspHandle",
    "Decomposition",
    "FactoredBasis",
    "HistoricalBasis",
    "LoraUnit",
    "attach_dacsp",
    "capability_directions",
    "capability_factors",
    "chance_level",
    "chance_levels",
    "correction_weights",
    "decompose",
    "lora_directions",
    "lora_pairs",
    "matrix_view",
    "modulate",
    "task_vectors",
]
