"""DACSP (paper section 3.2): capability directions, historical bases, direction-aware modulation.

Pure torch; no trainer imports. See care_rl/dacsp/README.md for the decisions the paper leaves open.
"""

from care_rl.dacsp.basis import DEFAULT_TOL, Basis, HistoricalBasis
from care_rl.dacsp.directions import capability_directions, capability_factors, matrix_view
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.hook import DacspHandle, attach_dacsp
from care_rl.dacsp.modulate import Decomposition, correction_weights, decompose, modulate
from care_rl.dacsp.stages import BasisBank, task_vectors

__all__ = [
    "DEFAULT_TOL",
    "Basis",
    "BasisBank",
    "DacspHandle",
    "Decomposition",
    "FactoredBasis",
    "HistoricalBasis",
    "attach_dacsp",
    "capability_directions",
    "capability_factors",
    "correction_weights",
    "decompose",
    "matrix_view",
    "modulate",
    "task_vectors",
]
