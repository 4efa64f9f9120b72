"""Running the generator over a prompt and turning its text into an :class:`Answer`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Literal

from mmrag.generate.citations import infer_citations, is_supported, parse_citations
from mmrag.generate.prompt import Prompt
from mmrag.generate.support import SupportVerdict, check_claims
from mmrag.generate.templates import PromptTemplates
from mmrag.models.mllm import MLLM, Generation, GenerationOptions
from mmrag.retrieve.selection import too_far
from mmrag.schema import Answer

#: How a generated draft is checked against its cited context (``generation.support_check``).
SupportCheck = Literal["off", "overlap", "claims"]
_UNFINISHED = re.compile(r"(?s)^(.*[.!?)\]])\s+\S[^.!?]*$")

_REFUSAL_PATTERNS = re.compile(
    r"\b(not answerable|cannot (?:be )?answer(?:ed)?|can't answer|unable to answer|"
    r"(?:do|does) not (?:contain|provide|mention|include) (?:the |this |that |an |any )?"
    r"(?:answer|information)|no (?:relevant )?information (?:about|on|regarding))\b",
    re.IGNORECASE,
)


class Answerer:
    def __init__(
        self,
        mllm: MLLM,
        templates: PromptTemplates,
        options: GenerationOptions,
        *,
        min_similarity: float = 0.0,
        support_check: SupportCheck = "off",
    ) -> None:
        self.mllm = mllm
        self.templates = templates
        self.options = options
        self.min_similarity = min_similarity
        self.support_check = support_check

    def answer(self, question: str, prompt: Prompt) -> Answer:
        if self._nothing_to_answer_from(prompt):
            return self.refusal(question, prompt)
        started = time.perf_counter()
        generation = self.mllm.generate(prompt.messages, self.options)
        return self._finish(question, prompt, generation, time.perf_counter() - started)

    def stream(self, question: str, prompt: Prompt) -> Iterator[str | Answer]:
        """Text deltas as the model writes, then the finished :class:`Answer`."""
        if self._nothing_to_answer_from(prompt):
            answer = self.refusal(question, prompt)
            yield answer.text
            yield answer
            return
        started = time.perf_counter()
        for item in self.mllm.stream(prompt.messages, self.options):
            if isinstance(item, Generation):
                yield self._finish(question, prompt, item, time.perf_counter() - started)
            else:
                yield item

    def refusal(self, question: str, prompt: Prompt) -> Answer:
        """The answer when there is nothing to answer from; the model is not called."""
        return Answer(
            question=question,
            text=self.templates.refusal,
            context=prompt.context,
            memories=prompt.memories,
            answerable=False,
        )

    def _nothing_to_answer_from(self, prompt: Prompt) -> bool:
        if prompt.memories:
            return False
        if not prompt.context:
            return True
        return too_far(prompt.context, self.min_similarity)

    def _finish(
        self, question: str, prompt: Prompt, generation: Generation, seconds: float
    ) -> Answer:
        raw = generation.text.strip()
        text, citations = parse_citations(raw, prompt.context)
        said_refusal = is_refusal(text, self.templates.refusal)
        if not said_refusal and not citations:
            citations = infer_citations(text, prompt.context)
        evidence = [prompt.context[c.number - 1].node.text for c in citations]
        evidence += [f"{m.name} {m.category} {m.info}" for m in prompt.memories]
        verdict = SupportVerdict(True)
        if not said_refusal:
            if generation.finish_reason == "length" and self.support_check == "claims":
                text = drop_unfinished(text)
            seen = [c.node.text for c in prompt.context] + evidence[len(citations) :]
            verdict = self.check(text, question, evidence, seen)
        refused = said_refusal or not verdict.supported
        if refused:
            citations = []
        return Answer(
            question=question,
            text=self.templates.refusal if refused else text,
            raw_text=raw if refused else "",
            rejection=verdict.reason,
            citations=citations,
            context=prompt.context,
            memories=prompt.memories,
            answerable=not refused,
            model=generation.model,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            timings={"generate": round(seconds, 3)},
        )

    def check(
        self, text: str, question: str, evidence: Sequence[str], seen: Sequence[str]
    ) -> SupportVerdict:
        """The configured support check of a draft against its cited ``evidence``, within
        everything the model ``seen`` (context items and memories)."""
        if not text.strip():
            return SupportVerdict(False, "the model's answer was cut off before its end")
        if self.support_check == "claims":
            return check_claims(text, question, evidence, context=seen)
        if self.support_check == "overlap" and not is_supported(text, question, evidence):
            return SupportVerdict(False, "its content is not in the cited sources")
        return SupportVerdict(True)


def drop_unfinished(text: str) -> str:
    """A draft cut off by the token limit, without its unfinished last sentence (empty when
    it never finished one): what it was about to claim cannot be checked."""
    if re.search(r"[.!?)\]]\s*$", text):
        return text
    match = _UNFINISHED.match(text)
    return match.group(1).strip() if match else ""


def is_refusal(text: str, refusal: str) -> bool:
    """Did the model say the context does not hold the answer?"""
    norm = _normalise(text)
    if not norm or _normalise(refusal) in norm:
        return True
    # A short reply that is mostly a refusal; long answers may say "not mentioned" in passing.
    return len(norm.split()) <= 25 and bool(_REFUSAL_PATTERNS.search(text))


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())
