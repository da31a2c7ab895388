"""Generation on the model's own thread, one at a time.

Everything that touches the model (loading and deleting adapters, ``set_adapter``, which is
global state, and ``generate``) runs as a job on a single worker thread: that thread is the
model's lock, and the event loop never waits on torch. A streamed generation sends its text
through transformers' ``AsyncTextIteratorStreamer`` (the thread-safe hand-off into the loop);
a client that goes away stops its generation at the next token."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import BadRequestError
from .adapters import LoadedAdapters, LocalAdapter

T = TypeVar("T")
_GREEDY_BELOW = 1e-5


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    """0 is greedy decoding."""
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Prompt:
    input_ids: Any
    """A (1, n) tensor of the chat template's tokens."""
    attention_mask: Any

    @property
    def tokens(self) -> int:
        return int(self.input_ids.shape[1])


@dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """stop (end of sequence) or length (max_tokens reached)."""


class Generator:
    def __init__(
        self, model: Any, tokenizer: Any, *, max_adapters: int, max_new_tokens: int
    ) -> None:
        self.tokenizer = tokenizer
        self.adapters = LoadedAdapters(model, max_adapters)
        self.max_new_tokens = max_new_tokens
        self._context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self._eos = _eos_ids(model, tokenizer)
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)

    async def run(self, job: Callable[[], T]) -> T:
        """``job`` on the model's thread, after every job queued before it."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, job)

    def prompt(self, messages: list[dict[str, str]]) -> Prompt:
        """The chat template applied; on the loop (a fast tokenizer takes well under a
        millisecond), so a prompt too long is a 400 before any stream starts."""
        try:
            encoded = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception as exc:  # noqa: BLE001 - a template may raise anything (jinja)
            raise BadRequestError(
                f"the chat template refused these messages: {exc}",
                code="invalid_messages",
                param="messages",
            ) from None
        prompt = Prompt(encoded["input_ids"], encoded["attention_mask"])
        if self._context and prompt.tokens >= self._context:
            raise BadRequestError(
                f"the prompt has {prompt.tokens} tokens; the model's context is {self._context}",
                code="context_length_exceeded",
                param="messages",
            )
        return prompt

    def _max_new(self, prompt: Prompt, sampling: Sampling) -> int:
        limit = min(sampling.max_tokens, self.max_new_tokens)
        if self._context:
            limit = min(limit, self._context - prompt.tokens)
        return max(limit, 1)

    async def complete(
        self, prompt: Prompt, sampling: Sampling, adapter: LocalAdapter | None
    ) -> Generated:
        stop = threading.Event()
        try:
            return await self.run(lambda: self._generate(prompt, sampling, adapter, None, stop))
        finally:
            stop.set()  # cancelled: the generation ends at its next token

    async def stream(
        self, prompt: Prompt, sampling: Sampling, adapter: LocalAdapter | None
    ) -> AsyncIterator[str | Generated]:
        """Pieces of text as they are decoded, then the whole ``Generated``."""
        from transformers import AsyncTextIteratorStreamer

        streamer = AsyncTextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        stop = threading.Event()
        job = asyncio.ensure_future(
            self.run(lambda: self._generate(prompt, sampling, adapter, streamer, stop))
        )
        try:
            async for piece in streamer:
                if piece:
                    yield piece
            yield await job
        finally:
            stop.set()
            if not job.done():
                job.cancel()  # still queued behind another generation: it never runs

    def _generate(
        self,
        prompt: Prompt,
        sampling: Sampling,
        adapter: LocalAdapter | None,
        streamer: Any,
        stop: threading.Event,
    ) -> Generated:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Stopped(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

        max_new = self._max_new(prompt, sampling)
        options: dict[str, Any] = {"max_new_tokens": max_new}
        # Below this, logits divided by the temperature overflow to inf and sampling fails;
        # OpenAI reads a temperature that low as greedy too.
        if sampling.temperature < _GREEDY_BELOW:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            options.update(
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0
            )
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
        try:
            with self.adapters.using(adapter) as model, torch.inference_mode():
                output = model.generate(
                    input_ids=prompt.input_ids.to(model.device),
                    attention_mask=prompt.attention_mask.to(model.device),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Stopped()]),
                    pad_token_id=self.tokenizer.pad_token_id,
                    **options,
                )
        except BaseException:
            if streamer is not None:
                streamer.end()  # else the stream's reader waits forever
            raise
        new = output[0, prompt.tokens :].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        ended = bool(new) and new[-1] in self._eos
        reason = "length" if len(new) >= max_new and not ended else "stop"
        return Generated(text, prompt.tokens, len(new), reason)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {i for i in ids if i is not None}
