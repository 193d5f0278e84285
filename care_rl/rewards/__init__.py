"""Training rewards: verifiable math and instruction following, and the registry that builds reward
functions by name (the generative chat reward, PA-GRM, lives in ``care_rl.pagrm``)."""

import langdetect

# langdetect is randomised per call unless seeded, and the RLVR-IFeval verifiers (language and lowercase
# instructions) call it: a reward must be deterministic (eval.verifiers seeds it the same way).
langdetect.DetectorFactory.seed = 0
