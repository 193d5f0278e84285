"""CARE-RL: capability-aware RL for mitigating cross-domain conflicts (reproduction)."""

import logging

# bitsandbytes (4-bit loading) warns at import, on CPUs with AVX512-BF16, that its optional fused CPU
# kernel is missing: that kernel is downloaded from the hub at run time, which this project never does,
# and the plain-torch fallback is what runs. Errors from the same module still show.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
