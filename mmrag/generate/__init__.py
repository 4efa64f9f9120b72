"""Generation: prompt assembly, answers with citations, refusal."""

from mmrag.generate.answer import Answerer, is_refusal
from mmrag.generate.citations import infer_citations, parse_citations
from mmrag.generate.prompt import Prompt, build_prompt
from mmrag.generate.templates import PromptTemplates

__all__ = [
    "Answerer",
    "Prompt",
    "PromptTemplates",
    "build_prompt",
    "infer_citations",
    "is_refusal",
    "parse_citations",
]
