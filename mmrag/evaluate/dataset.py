"""The evaluation dataset format (JSONL), and converters from public sets into it.

One JSON object per line::

    {"id": "mmlb-0001", "question": "...", "answer": "Less well-off",
     "image": null, "user": null,
     "evidence": [{"source": "PH_2016.06.08_Economy-Final.pdf", "pages": [5]}],
     "concepts": [], "tags": ["Chart"]}

``evidence.source`` is a file name, path or glob matched against stored sources (see
:func:`mmrag.store.filters.source_filter`); ``pages`` are 1-based and may be empty when the
whole file is the evidence; an empty ``evidence`` list marks a question the documents
cannot answer.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmrag.errors import ConfigError


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    pages: tuple[int, ...] = ()


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    answer: str | None = None
    image: str | None = None
    user: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    #: Personal concepts the question is about (names as in the memory store).
    concepts: list[str] = Field(default_factory=list)
    #: Multiple-choice options, if any, in their original order.
    options: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.evidence) or bool(self.concepts)


def load_jsonl(path: str | Path) -> list[Example]:
    """Examples from a JSONL file; a bad line is an error naming the file and line."""
    path = Path(path)
    examples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read dataset {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(Example.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(f"{path}:{number}: not a valid example ({exc})") from exc
    return examples


def save_jsonl(examples: Iterable[Example], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(example.model_dump_json(exclude_defaults=True) + "\n")
    return path


def from_mmlongbench(samples_json: str | Path) -> list[Example]:
    """MMLongBench-Doc's ``samples.json``: questions over long PDFs, page-level evidence.

    "Not answerable" questions keep no evidence; evidence pages beyond a PDF's length
    (upstream noise) are kept, they simply never match.
    """
    samples: Sequence[dict[str, Any]] = json.loads(Path(samples_json).read_text(encoding="utf-8"))
    examples = []
    for index, sample in enumerate(samples):
        pages = [int(p) for p in ast.literal_eval(sample.get("evidence_pages") or "[]")]
        answerable = sample["answer"] != "Not answerable"
        tags = [str(t) for t in ast.literal_eval(sample.get("evidence_sources") or "[]")]
        examples.append(
            Example(
                id=f"mmlongbench-{index:04d}",
                question=sample["question"],
                answer=sample["answer"],
                evidence=[Evidence(source=sample["doc_id"], pages=tuple(pages))]
                if answerable
                else [],
                tags=tags or (["Not answerable"] if not answerable else []),
                metadata={
                    "doc": sample["doc_id"],
                    "doc_type": sample.get("doc_type"),
                    "answer_format": sample.get("answer_format"),
                },
            )
        )
    return examples


def load_dataset(path: str | Path) -> list[Example]:
    """A JSONL dataset, or a public set's own file recognised by its shape
    (MMLongBench-Doc's ``samples.json``)."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read dataset {path}: {exc}") from exc
        if isinstance(data, list) and data and {"doc_id", "evidence_pages"} <= set(data[0]):
            return from_mmlongbench(path)
        raise ConfigError(f"{path}: unknown dataset format (expected JSONL examples)")
    return load_jsonl(path)


def from_flickr8k(captions_csv: str | Path, *, captions_per_image: int = 1) -> list[Example]:
    """Flickr8k captions as queries whose evidence is the photo they describe."""
    import csv

    rows: dict[str, list[str]] = {}
    with Path(captions_csv).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(row["image"], []).append(row["caption"].strip())
    examples = []
    for image, captions in sorted(rows.items()):
        for index, caption in enumerate(captions[:captions_per_image]):
            examples.append(
                Example(
                    id=f"flickr8k-{Path(image).stem}-{index}",
                    question=caption,
                    evidence=[Evidence(source=image)],
                    tags=["caption->image"],
                )
            )
    return examples


def from_rap_text_qa(text_only_qa: str | Path, *, user: str = "rap") -> list[Example]:
    """RAP's two-option questions about each concept; "sks" becomes the concept's name."""
    data = json.loads(Path(text_only_qa).read_text(encoding="utf-8"))
    examples = []
    for concept, questions in data.items():
        for key, item in questions.items():
            options = item["option"]
            examples.append(
                Example(
                    id=f"rap-{concept}-{key}",
                    question=item["question"].replace("sks", f"<{concept}>"),
                    answer=options[item["correct_answer"]],
                    user=user,
                    concepts=[concept],
                    options=[options[k] for k in sorted(options)],
                    tags=[f"gold:{item['correct_answer']}"],
                )
            )
    return examples
