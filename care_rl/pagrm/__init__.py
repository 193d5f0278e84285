"""PA-GRM: protocol-aware generative reward model (paper section 3.1) and its ablation variants."""

from care_rl.pagrm.judge import VARIANTS, PAGRMJudge, Variant
from care_rl.pagrm.parsing import JudgeOutputError, Protocol, Score
from care_rl.pagrm.reward import ChatReward, make_chat_reward
from care_rl.pagrm.trace import Trace, read_traces, write_traces

__all__ = [
    "VARIANTS",
    "ChatReward",
    "JudgeOutputError",
    "PAGRMJudge",
    "Protocol",
    "Score",
    "Trace",
    "Variant",
    "make_chat_reward",
    "read_traces",
    "write_traces",
]
