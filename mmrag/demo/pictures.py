"""Pictures for the demo corpus, drawn with Pillow so that no data has to be downloaded.

Every picture is a pure function of its arguments (random choices use a fixed seed), so the
corpus comes out the same on every run. Text is drawn large and dark on a light background
because the chart and the scan exist to show that OCR makes pixels searchable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]

INK: RGB = (20, 20, 20)
PAPER: RGB = (250, 248, 240)


def font(size: int) -> Font:
    """Pillow's bundled FreeType font: always available, so no system font is needed."""
    return ImageFont.load_default(size=size)


def _centered(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int) -> None:
    draw.text(xy, text, fill=INK, font=font(size), anchor="mm")


def _wrap(text: str, face: Font, width: int) -> list[str]:
    """Greedy word wrap by measured width, so long sentences stay inside the page."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and face.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def bar_chart(
    title: str, subtitle: str, labels: Sequence[str], values: Sequence[float]
) -> Image.Image:
    """A bar chart with axis, gridlines and value labels, big enough for OCR to read."""
    width, height = 1000, 660
    left, right, top, bottom = 110, 950, 150, 580
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    _centered(draw, (width / 2, 45), title, 38)
    _centered(draw, (width / 2, 95), subtitle, 28)
    top_value = 10 * (int(max(values) // 10) + 1)
    scale = (bottom - top) / top_value
    for tick in range(0, top_value + 1, 10):
        y = bottom - tick * scale
        draw.line([(left, y), (right, y)], fill=(215, 215, 215), width=1)
        draw.text((left - 15, y), str(tick), fill=INK, font=font(24), anchor="rm")
    draw.line([(left, top - 10), (left, bottom)], fill=INK, width=3)
    draw.line([(left, bottom), (right, bottom)], fill=INK, width=3)
    slot = (right - left) / len(values)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x0 = left + slot * i + slot * 0.2
        x1 = left + slot * (i + 1) - slot * 0.2
        y0 = bottom - value * scale
        draw.rectangle([(x0, y0), (x1, bottom)], fill=(38, 92, 160))
        _centered(draw, ((x0 + x1) / 2, y0 - 22), f"{value:.1f}", 30)
        _centered(draw, ((x0 + x1) / 2, bottom + 35), label, 32)
    return image


def scanned_page(text: str, seed: int) -> Image.Image:
    """An A4-shaped page of typed notes with faint specks, imitating a paper scan."""
    width, height, margin = 1200, 1700, 90
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(400):
        x, y = rng.randrange(width), rng.randrange(height)
        shade = rng.randrange(170, 225)
        draw.point((x, y), fill=(shade, shade, shade - 10))
    face = font(40)
    y = margin
    for line in _wrap(text, face, width - 2 * margin):
        draw.text((margin, y), line, fill=INK, font=face)
        y += 58
    return image


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int]) -> None:
    (x0, y), (x1, _) = start, end
    draw.line([(x0, y), (x1 - 14, y)], fill=INK, width=4)
    draw.polygon([(x1, y), (x1 - 18, y - 11), (x1 - 18, y + 11)], fill=INK)


def architecture_diagram(title: str, boxes: Sequence[str], links: Sequence[str]) -> Image.Image:
    """Labelled boxes joined left to right by labelled arrows, like a system sketch."""
    width, height = 1000, 420
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    _centered(draw, (width / 2, 50), title, 36)
    box_w, box_h, y0 = 170, 120, 150
    gap = (width - 60 - box_w * len(boxes)) // max(len(boxes) - 1, 1)
    fills: list[RGB] = [(214, 234, 248), (213, 245, 227), (252, 243, 207), (245, 214, 230)]
    for i, label in enumerate(boxes):
        x0 = 30 + i * (box_w + gap)
        draw.rounded_rectangle(
            [(x0, y0), (x0 + box_w, y0 + box_h)],
            radius=18,
            fill=fills[i % len(fills)],
            outline=INK,
            width=3,
        )
        _centered(draw, (x0 + box_w / 2, y0 + box_h / 2), label, 28)
        if i < len(links):
            start, end = (x0 + box_w + 8, y0 + box_h // 2), (x0 + box_w + gap - 8, 0)
            _arrow(draw, start, end)
            _centered(draw, ((start[0] + end[0]) / 2, y0 + box_h + 40), links[i], 24)
    return image


def product_render(name: str) -> Image.Image:
    """A stylised sensor box: grey housing, solar panel, status light and a name plate."""
    size = 520
    image = Image.new("RGB", (size, size), (236, 240, 244))
    draw = ImageDraw.Draw(image)
    draw.ellipse([(90, 440), (430, 480)], fill=(200, 204, 210))
    draw.rounded_rectangle([(110, 150), (410, 450)], radius=36, fill=(120, 128, 140))
    draw.rounded_rectangle([(130, 90), (390, 170)], radius=10, fill=(25, 45, 95))
    for x in range(130, 391, 52):
        draw.line([(x, 90), (x, 170)], fill=(90, 120, 180), width=2)
    draw.line([(130, 130), (390, 130)], fill=(90, 120, 180), width=2)
    for y in range(220, 321, 25):
        draw.rounded_rectangle([(150, y), (370, y + 10)], radius=5, fill=(90, 96, 108))
    draw.ellipse([(345, 380), (375, 410)], fill=(60, 200, 90))
    draw.rectangle([(140, 365), (325, 415)], fill="white")
    draw.text((232, 390), name, fill=INK, font=font(22), anchor="mm")
    return image


def _gradient(image: Image.Image, top: RGB, bottom: RGB, y0: int, y1: int) -> None:
    draw = ImageDraw.Draw(image)
    for y in range(y0, y1):
        t = (y - y0) / max(y1 - y0 - 1, 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (image.width, y)], fill=colour)


def sunset_beach() -> Image.Image:
    """Orange sky, a low sun with its reflection, dark sea and sand."""
    image = Image.new("RGB", (640, 427))
    _gradient(image, (250, 140, 60), (255, 205, 120), 0, 250)
    draw = ImageDraw.Draw(image)
    draw.ellipse([(270, 185), (370, 285)], fill=(255, 240, 170))
    _gradient(image, (40, 70, 120), (20, 40, 80), 250, 340)  # the sea hides the sun's lower part
    _gradient(image, (230, 200, 150), (200, 170, 120), 340, 427)
    for i, y in enumerate(range(258, 335, 10)):
        half = 45 - i * 4
        draw.line([(320 - half, y), (320 + half, y)], fill=(250, 200, 110), width=3)
    rng = random.Random(7)
    for _ in range(300):
        x, y = rng.randrange(640), rng.randrange(342, 427)
        draw.point((x, y), fill=(170, 140, 100))
    return image


def mountain_lake() -> Image.Image:
    """Blue sky, snow-capped peaks, a pine shore and a calm lake mirroring the peaks."""
    image = Image.new("RGB", (640, 427))
    _gradient(image, (90, 150, 220), (190, 220, 245), 0, 260)
    _gradient(image, (50, 100, 140), (30, 70, 110), 260, 427)
    draw = ImageDraw.Draw(image)
    peaks = [(120, 90, 140), (320, 60, 170), (520, 100, 150)]
    for x, top, half in peaks:
        draw.polygon([(x - half, 260), (x, top), (x + half, 260)], fill=(110, 110, 120))
        draw.polygon([(x - half // 4, top + 40), (x, top), (x + half // 4, top + 40)], fill="white")
        draw.polygon([(x - half, 262), (x, 520 - top), (x + half, 262)], fill=(70, 100, 125))
    rng = random.Random(11)
    for x in range(0, 640, 18):
        tree = rng.randrange(25, 45)
        draw.polygon([(x, 262), (x + 9, 262 - tree), (x + 18, 262)], fill=(30, 80, 40))
    return image


def snowy_forest() -> Image.Image:
    """Pale winter sky, white ground and rows of dark spruces scattered at random."""
    image = Image.new("RGB", (640, 427))
    _gradient(image, (200, 210, 225), (235, 238, 242), 0, 230)
    _gradient(image, (245, 247, 250), (225, 230, 238), 230, 427)
    draw = ImageDraw.Draw(image)
    rng = random.Random(23)
    trees = sorted((rng.randrange(240, 420), rng.randrange(-20, 640)) for _ in range(40))
    for base, x in trees:  # far (higher) trees first, so near ones overlap them
        tall = (base - 200) // 2 + rng.randrange(20, 40)
        draw.rectangle([(x - 3, base - 8), (x + 3, base)], fill=(80, 60, 40))
        crown = [(x - tall // 3, base - 8), (x, base - 8 - tall), (x + tall // 3, base - 8)]
        draw.polygon(crown, fill=(25, 60, 45))
    return image
