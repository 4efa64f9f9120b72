"""Assembling the prompt: memories first, then numbered context, then the question.

Images go in as pixels when the model takes them (up to its limit) and as their text
summaries otherwise, so the same context works for SmolLM2 and for a VLM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmrag.generate.templates import PromptTemplates
from mmrag.models.mllm import Capabilities, ImagePart, Message
from mmrag.schema import MemoryRef, NodeKind, ScoredNode

#: Returns stored image bytes and format ("png", "jpeg") for an image id, or None.
ImageLoader = Callable[[str], tuple[bytes, str] | None]


@dataclass(slots=True)
class Prompt:
    messages: list[Message]
    #: The context as numbered in the prompt: ``context[i]`` is ``[i + 1]``.
    context: list[ScoredNode]
    images_sent: int = 0
    memories: list[MemoryRef] = field(default_factory=list)


def location(item: ScoredNode) -> str:
    node = item.node
    name = Path(node.source).name
    return f"{name}, page {node.page}" if node.page is not None else name


def build_prompt(
    question: str,
    context: Sequence[ScoredNode],
    *,
    capabilities: Capabilities,
    templates: PromptTemplates,
    memories: Sequence[MemoryRef] = (),
    query_image: ImagePart | None = None,
    load_image: ImageLoader | None = None,
    load_memory_image: ImageLoader | None = None,
    max_item_chars: int = 1500,
) -> Prompt:
    """Messages for ``question`` over ``context`` (already ranked and cut to size)."""
    budget = capabilities.max_images if capabilities.images else 0
    items = _merge_images(context)
    user: list[str | ImagePart] = []
    if memories:
        user.append(templates.memories_header + "\n")
        for memory in memories:
            photo = (
                load_memory_image(memory.image_ids[0])
                if budget > 0 and load_memory_image and memory.image_ids
                else None
            )
            if photo is not None:
                user.append(
                    ImagePart(photo[0], f"image/{photo[1]}", summary=f"a photo of {memory.name}")
                )
                budget -= 1
            user.append(templates.memory_item.format(name=memory.name, info=memory.info) + "\n")
        user.append("\n")
    if query_image is not None:
        if budget > 0:
            user.append(query_image)
            budget -= 1
        user.append(
            templates.query_image.format(text=query_image.summary or "(no description)") + "\n\n"
        )
    user.append(templates.context_header + "\n")
    images_sent = 0
    for number, item in enumerate(items, start=1):
        node = item.node
        text = _clip(" ".join(node.text.split()), max_item_chars)
        if node.image_id and node.kind != NodeKind.TEXT:
            picture = load_image(node.image_id) if (budget > 0 and load_image) else None
            if picture is not None:
                data, fmt = picture
                user.append(ImagePart(data, f"image/{fmt}", summary=text))
                budget -= 1
                images_sent += 1
            user.append(
                templates.image_item.format(number=number, location=location(item), text=text)
                + "\n"
            )
        else:
            user.append(
                templates.text_item.format(number=number, location=location(item), text=text) + "\n"
            )
    user.append("\n" + templates.question.format(question=question.strip()))
    system = templates.system.format(refusal=templates.refusal)
    messages = [Message.text("system", system), Message("user", _join_text(user))]
    return Prompt(
        messages=messages, context=items, images_sent=images_sent, memories=list(memories)
    )


def _merge_images(context: Sequence[ScoredNode]) -> list[ScoredNode]:
    """One item per image: an image node and its summary node become the summary's item."""
    by_image: dict[str, int] = {}
    merged: list[ScoredNode] = []
    for item in context:
        image_id = item.node.image_id
        if image_id and item.node.kind != NodeKind.TEXT:
            if image_id in by_image:
                kept = merged[by_image[image_id]]
                if item.node.kind == NodeKind.IMAGE_SUMMARY:
                    merged[by_image[image_id]] = ScoredNode(
                        item.node, max(kept.score, item.score), kept.scores | item.scores
                    )
                continue
            by_image[image_id] = len(merged)
        merged.append(item)
    return merged


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _join_text(parts: list[str | ImagePart]) -> list[str | ImagePart]:
    """Adjacent strings merged, so text-only backends see one clean string."""
    out: list[str | ImagePart] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        else:
            out.append(part)
    return out
