"""LLM-as-judge: the six binary metrics of "Beyond Text", plus personalization.

Each metric is one call asking for ``{"grade": 1 or 0, "reason": "..."}``. Replies are
parsed leniently (JSON anywhere in the text, yes/no/true/false, single quotes); a reply
that still says nothing usable is recorded as ``invalid`` — never crashed on and never
counted as a pass. Calls are cached on disk by (judge model, prompt), so re-running a
report or a resumed evaluation costs nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from mmrag.errors import ModelError
from mmrag.models.mllm import MLLM, GenerationOptions, Message
from mmrag.schema import Answer, NodeKind

METRICS = (
    "answer_correctness",
    "answer_relevancy",
    "text_context_relevancy",
    "image_context_relevancy",
    "text_faithfulness",
    "image_faithfulness",
    "personalization",
)

_ASK = {
    "answer_correctness": (
        "Is the ANSWER correct, given the REFERENCE answer? Minor wording differences are fine."
    ),
    "answer_relevancy": "Does the ANSWER address the QUESTION (whether or not it is correct)?",
    "text_context_relevancy": "Is the TEXT CONTEXT relevant to the QUESTION?",
    "image_context_relevancy": "Are the IMAGES (described below) relevant to the QUESTION?",
    "text_faithfulness": "Is every claim of the ANSWER supported by the TEXT CONTEXT?",
    "image_faithfulness": "Is every claim of the ANSWER supported by the IMAGES (described below)?",
    "personalization": (
        "Does the ANSWER correctly use what is known about the user's own concept(s) {concepts}?"
    ),
}
_PLACEHOLDER_REASON = "one short sentence"
_FORMAT = f'Reply with JSON only: {{"grade": 1 or 0, "reason": "{_PLACEHOLDER_REASON}"}}.'
#: Backends that support it are held to this shape (llama.cpp grammars, JSON modes).
SCHEMA = {
    "type": "object",
    "properties": {"grade": {"type": "integer", "enum": [0, 1]}, "reason": {"type": "string"}},
    "required": ["grade", "reason"],
}
_NEGATIVE = re.compile(
    r"\b(incorrect|wrong|irrelevant|unsupported|not (?:correct|relevant|supported|faithful|"
    r"address\w*|answer\w*)|does not|doesn't|fails?)\b",
    re.IGNORECASE,
)
_POSITIVE = re.compile(r"\b(correct|relevant|supported|faithful|addresses|right)\b", re.IGNORECASE)


@dataclass(slots=True)
class Grade:
    passed: bool | None
    reason: str = ""
    #: ok; lenient (read from a plain-language verdict, not JSON); invalid (unreadable
    #: reply); n/a (the metric does not apply); error (the call failed)
    status: str = "ok"
    raw: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_grade(text: str) -> Grade:
    """The grade in a judge's reply, as leniently as is still honest."""
    raw = text.strip()
    for candidate in re.findall(r"\{.*?\}", raw, flags=re.DOTALL) or []:
        data = _load(candidate)
        if isinstance(data, dict):
            grade = _truth(data.get("grade", data.get("score", data.get("verdict"))))
            reason = str(data.get("reason", "")).strip()
            if reason.strip(" .").lower() == _PLACEHOLDER_REASON:
                # The reply format copied back word for word: small models do this whatever
                # the case, so its grade is no verdict.
                return Grade(None, "copied the reply template", "invalid", raw)
            if grade is not None:
                return Grade(grade, reason, "ok", raw)
    match = re.search(
        r"(?:grade|answer is)\W{0,3}(1|0|yes|no|true|false|pass|fail)\b", raw, re.IGNORECASE
    )
    if match:
        return Grade(_truth(match.group(1)), "", "ok", raw)
    # A plain-language verdict in the first sentence ("The answer is incorrect."): read it,
    # but mark it, so a report shows how many grades came from prose.
    first = re.split(r"(?<=[.!?])\s", raw, maxsplit=1)[0]
    if _NEGATIVE.search(first):
        return Grade(False, first, "lenient", raw)
    if _POSITIVE.search(first):
        return Grade(True, first, "lenient", raw)
    return Grade(None, "", "invalid", raw)


def _load(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None


def _truth(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in {"1", "yes", "true", "pass", "correct"}:
            return True
        if v in {"0", "no", "false", "fail", "incorrect"}:
            return False
    return None


class JudgeCache:
    """(judge, prompt) -> reply, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT)")
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, judge: str, prompt: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reply FROM replies WHERE key = ?", (_key(judge, prompt),)
            ).fetchone()
        if row:
            self.hits += 1
        return row[0] if row else None

    def put(self, judge: str, prompt: str, reply: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?)", (_key(judge, prompt), reply)
            )
            self._db.commit()


def _key(judge: str, prompt: str) -> str:
    return hashlib.sha256(f"{judge}\x1f{prompt}".encode()).hexdigest()


class Judge:
    def __init__(
        self, model: MLLM, cache: JudgeCache | None = None, *, max_chars: int = 2500
    ) -> None:
        self.model = model
        self.cache = cache
        self.max_chars = max_chars

    def grade_all(
        self, question: str, answer: Answer, *, reference: str | None, concepts: list[str]
    ) -> dict[str, Grade]:
        text_ctx = [c.node.text for c in answer.context if c.node.kind == NodeKind.TEXT]
        image_ctx = [c.node.text for c in answer.context if c.node.kind != NodeKind.TEXT]
        applies = {
            "answer_correctness": reference is not None,
            "answer_relevancy": True,
            "text_context_relevancy": bool(text_ctx),
            "image_context_relevancy": bool(image_ctx),
            "text_faithfulness": bool(text_ctx) and answer.answerable,
            "image_faithfulness": bool(image_ctx) and answer.answerable,
            "personalization": bool(concepts),
        }
        grades = {}
        for metric in METRICS:
            if not applies[metric]:
                grades[metric] = Grade(None, status="n/a")
                continue
            prompt = self._prompt(
                metric, question, answer.text, reference, text_ctx, image_ctx, concepts, answer
            )
            grades[metric] = self._ask(prompt)
        return grades

    @property
    def identity(self) -> str:
        """What a cached reply depends on besides the prompt: the model and how it is asked."""
        return f"{self.model.name}#json-grade-v1"

    def _ask(self, prompt: str) -> Grade:
        reply = self.cache.get(self.identity, prompt) if self.cache else None
        if reply is None:
            try:
                reply = self.model.generate(
                    [
                        Message.text("system", "You are a strict evaluator."),
                        Message.text("user", prompt),
                    ],
                    GenerationOptions(max_tokens=80, temperature=0.0, json_schema=SCHEMA),
                ).text
            except ModelError as exc:
                return Grade(None, str(exc), "error")
            if self.cache:
                self.cache.put(self.identity, prompt, reply)
        return parse_grade(reply)

    def _prompt(
        self,
        metric: str,
        question: str,
        answer: str,
        reference: str | None,
        text_ctx: list[str],
        image_ctx: list[str],
        concepts: list[str],
        full: Answer,
    ) -> str:
        parts = [f"QUESTION: {question}", f"ANSWER: {answer}"]
        if metric == "answer_correctness":
            parts.append(f"REFERENCE: {reference}")
        if metric.startswith("text_"):
            parts.append("TEXT CONTEXT:\n" + self._clip("\n".join(text_ctx)))
        if metric.startswith("image_"):
            parts.append("IMAGES (their descriptions):\n" + self._clip("\n".join(image_ctx)))
        if metric == "personalization":
            known = "\n".join(f"{m.name}: {m.info}" for m in full.memories) or "(none retrieved)"
            parts.append(f"KNOWN ABOUT THE USER'S CONCEPTS:\n{known}")
        parts.append(_ASK[metric].format(concepts=", ".join(f"<{c}>" for c in concepts)))
        parts.append(_FORMAT)
        return "\n\n".join(parts)

    def _clip(self, text: str) -> str:
        return text if len(text) <= self.max_chars else text[: self.max_chars] + "…"
