"""Question answering end to end: retrieve, assemble the prompt, generate, cite."""

from __future__ import annotations

from collections.abc import Iterator

from PIL import Image

from mmrag.components import Components
from mmrag.errors import ConfigError
from mmrag.generate.answer import Answerer
from mmrag.generate.extractive import ExtractiveAnswerer
from mmrag.generate.prompt import Prompt, build_prompt
from mmrag.memory import Memories
from mmrag.models.mllm import Capabilities, GenerationOptions, ImagePart
from mmrag.models.summarize import ImageContext
from mmrag.retrieve import Retriever, SearchFilter
from mmrag.schema import Answer, MemoryRef, ScoredNode
from mmrag.store import Store
from mmrag.timing import LoadSplit

#: The question asked about an image given without one (``mmrag ask "" --image x.jpg``).
#: Whoever hands over a photo and no words wants to know what it is and what the
#: documents say about it; refusing, or running a text search for "", would answer
#: nothing. The answer's ``question`` shows this text, so the stand-in is never hidden.
IMAGE_QUESTION = "What is in this image?"


def question_to_ask(question: str, image: Image.Image | None) -> str:
    """``question``, or :data:`IMAGE_QUESTION` when it is blank and there is an image."""
    if question.strip():
        return question
    if image is None:
        raise ConfigError("ask needs a question, or an image to ask about")
    return IMAGE_QUESTION


class Asker:
    def __init__(self, store: Store, components: Components, retriever: Retriever) -> None:
        self.store = store
        self.components = components
        self.retriever = retriever
        self._memory_cache: dict[str, Memories] = {}

    def ask(
        self,
        question: str,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        filters: SearchFilter | None = None,
        memories: list[MemoryRef] | None = None,
    ) -> Answer:
        split = LoadSplit()
        prompt = self.prepare(question, image=image, user=user, filters=filters, memories=memories)
        split.lap("retrieve")
        answer = self._answerer(user).answer(question_to_ask(question, image), prompt)
        return _timed(answer, split)

    def ask_stream(
        self,
        question: str,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        filters: SearchFilter | None = None,
        memories: list[MemoryRef] | None = None,
    ) -> Iterator[str | Answer]:
        split = LoadSplit()
        prompt = self.prepare(question, image=image, user=user, filters=filters, memories=memories)
        split.lap("retrieve")
        for item in self._answerer(user).stream(question_to_ask(question, image), prompt):
            yield _timed(item, split) if isinstance(item, Answer) else item

    def prepare(
        self,
        question: str,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        filters: SearchFilter | None = None,
        memories: list[MemoryRef] | None = None,
    ) -> Prompt:
        """Retrieve context for ``question`` (and ``image``) and build the prompt.

        A blank ``question`` with an ``image`` asks :data:`IMAGE_QUESTION`, with context
        found by the image alone.
        """
        settings = self.components.config.generation
        asked = question_to_ask(question, image)
        image_only = not question.strip()  # question_to_ask refused "" without an image
        context: list[ScoredNode] = []
        k = settings.context_items
        if k and image is not None:
            # What the user's image looks like comes first: a generic question ("what is
            # this?") would otherwise let text matches outrank even an identical image.
            # With no question of the user's the image is all there is to search by.
            context = self.retriever.retrieve(
                None,
                image=image,
                user=user,
                filters=filters,
                k=k if image_only else max(1, k // 2),
                neighbours=image_only,
            ).items[:k]
        if k and not image_only:
            seen = {c.node.image_id or c.node.id for c in context}
            # Adaptive k decides how much is relevant; context_items caps what the model reads.
            found = self.retriever.retrieve(question, user=user, filters=filters, neighbours=True)
            for hit in found.items:
                if len(context) >= k:
                    break
                if (hit.node.image_id or hit.node.id) not in seen:
                    context.append(hit)
        if memories is None and user:
            memories = self._memories(user).for_question(question, image)
        return build_prompt(
            asked,
            context,
            # The extractive answerer reads text only and needs no generator at all.
            capabilities=(
                Capabilities()
                if settings.answerer == "extractive"
                else self.components.generator.capabilities
            ),
            templates=settings.templates,
            memories=memories or [],
            query_image=self._query_image(image, memories) if image is not None else None,
            load_image=lambda image_id: self.store.image_bytes(image_id, user=user),
            load_memory_image=(lambda pid: self._memories(user).photo(pid)) if user else None,
            max_item_chars=settings.max_item_chars,
        )

    def _memories(self, user: str) -> Memories:
        if user not in self._memory_cache:
            self._memory_cache[user] = Memories(self.store, self.components, user)
        return self._memory_cache[user]

    def _answerer(self, user: str | None) -> Answerer | ExtractiveAnswerer:
        settings = self.components.config.generation
        if settings.answerer == "extractive":
            return ExtractiveAnswerer(
                self.components.text_embedder,
                settings.extractive,
                settings.templates,
                min_similarity=settings.min_similarity,
                read_pages=(
                    (lambda pages: self.store.page_texts(pages, user=user))
                    if settings.extractive.whole_pages
                    else None
                ),
            )
        options = GenerationOptions(
            max_tokens=settings.max_tokens, temperature=settings.temperature, seed=settings.seed
        )
        return Answerer(
            self.components.generator,
            settings.templates,
            options,
            min_similarity=settings.min_similarity,
            support_check=settings.support_check,
        )

    def _query_image(
        self, image: Image.Image, memories: list[MemoryRef] | None = None
    ) -> ImagePart:
        """The user's image, with a text stand-in (OCR + summary) for text-only models;
        concepts recognised in it are named first ("It shows <bo>.")."""
        ocr_text = ""
        if self.components.ocr is not None:
            ocr_text = self.components.ocr.recognize([image])[0].text
        summary = ocr_text
        if self.components.summarizer is not None:
            summary = self.components.summarizer.summarize(
                [image], [ImageContext(ocr_text=ocr_text)]
            )[0]
        seen = [m.name for m in memories or [] if m.similarity is not None]
        if seen:
            summary = f"It shows {' and '.join(seen)}. {summary}"
        return ImagePart.from_pil(image, summary=summary, fmt="JPEG")


def _timed(answer: Answer, split: LoadSplit) -> Answer:
    """Seconds spent loading models (on first use), retrieving and generating, and in all."""
    split.lap("generate")
    answer.timings = split.timings()
    return answer
