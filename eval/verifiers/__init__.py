"""Evaluation-only verifiers: the official IFEval checker (via lm-eval), IFBench, and the NLTK data they need."""

import langdetect

# langdetect is randomised per call unless seeded, and the official IFEval/IFBench checks (language and
# lowercase instructions) call it: a score must not depend on the run (care_rl.rewards seeds it too,
# for RLVR-IFeval; whichever package is imported first, the seed is the same).
langdetect.DetectorFactory.seed = 0
