"""vLLM sampling for the paper profiles (GPU), behind the same interface as ``eval.hf_generator.HFGenerator``.

Written against vLLM's documented offline API: ``LLM(model=..., seed=..., enable_lora=...)``,
``LLM.generate(prompts, SamplingParams(n, temperature, top_p, max_tokens, seed), lora_request=...)``
returning one ``RequestOutput`` per prompt whose ``.outputs`` hold the n ``CompletionOutput``s
(``.text``, ``.token_ids``); prompts are passed as ``{"prompt_token_ids": ...}`` (TokensPrompt). vLLM is imported lazily: it is not installed on CPU machines and not
exercised by the CPU test suite.
"""

from __future__ import annotations

from collections.abc import Sequence

from care_rl.data.records import Message
from eval.avg_at_k import Completion


class VLLMGenerator:
    """n samples per prompt in one vLLM call; a LoRA adapter, if given, is applied per request."""

    def __init__(
        self,
        model_path: str,
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        adapter_path: str | None = None,
        seed: int = 42,
    ) -> None:
        from vllm import LLM

        self.llm = LLM(model=model_path, seed=seed, enable_lora=adapter_path is not None)
        self.tokenizer = self.llm.get_tokenizer()
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.lora_request = None
        if adapter_path is not None:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest("eval-adapter", 1, adapter_path)

    def render(self, conversation: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def token_ids(self, conversation: list[Message]) -> list[int]:
        """Token ids of the rendered prompt; the template carries any BOS, so none is added twice."""
        return self.tokenizer(self.render(conversation), add_special_tokens=False)["input_ids"]

    def prompt_lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        return [len(self.token_ids(c)) for c in conversations]

    def generate(self, conversations: Sequence[list[Message]], n: int, seed: int) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_new_tokens, seed=seed
        )
        outputs = self.llm.generate(
            [{"prompt_token_ids": self.token_ids(c)} for c in conversations],
            params,
            lora_request=self.lora_request,
            use_tqdm=False,
        )
        return [[Completion(o.text, len(o.token_ids)) for o in req.outputs] for req in outputs]
