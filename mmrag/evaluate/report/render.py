"""Writing report sections as Markdown (with PNG files) and as one self-contained HTML."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

from mmrag.evaluate.report.blocks import Example, Figure, Section, Table


def markdown(title: str, sections: list[Section], folder: Path) -> Path:
    assets = folder / "report-assets"
    # Thumbnails of an earlier report would linger beside the new ones.
    for stale in assets.glob("thumb-*.jpg"):
        stale.unlink()
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, Table):
                lines += _md_table(block)
            elif isinstance(block, Figure):
                assets.mkdir(parents=True, exist_ok=True)
                (assets / block.name).write_bytes(block.png)
                lines += [f"![{block.caption}](report-assets/{block.name})", ""]
            elif isinstance(block, Example):
                lines += _md_example(block, assets)
    path = folder / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _md_table(table: Table) -> list[str]:
    out = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        out += ["", f"*{table.note}*"]
    return [*out, ""]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_example(example: Example, assets: Path) -> list[str]:
    out = [f"**[{example.pipeline}] {example.question}**", ""]
    out += [f"- {k}: {v}" for k, v in example.facts]
    for index, item in enumerate(example.items):
        thumb = ""
        if item.thumbnail:
            assets.mkdir(parents=True, exist_ok=True)
            # Stable names, so regenerating a report does not churn its files in git.
            digest = hashlib.sha1(f"{example.pipeline}\0{example.question}\0{index}".encode())
            name = f"thumb-{digest.hexdigest()[:16]}.jpg"
            (assets / name).write_bytes(item.thumbnail)
            thumb = f" ![](report-assets/{name})"
        out.append(f"  - retrieved {item.label}: {item.text}{thumb}")
    return [*out, ""]


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3;text-align:left}.note{color:#666;font-style:italic}
.example{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0;background:#fafafa}
.example h3{font-size:1em;margin:.2em 0 .5em}.items{display:flex;flex-wrap:wrap;gap:8px}
.item{border:1px solid #e2e2e2;background:#fff;padding:6px;width:240px;font-size:12px}
.item img{display:block;max-width:160px;margin-bottom:4px}
figure{display:inline-block;margin:.5em 1em .5em 0}
figcaption{color:#555;font-size:12px}
"""


def html_page(title: str, sections: list[Section], folder: Path) -> Path:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{_inline(block)}</p>")
            elif isinstance(block, Table):
                parts.append(_html_table(block))
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode()
                caption = html.escape(block.caption)
                parts.append(
                    f"<figure><img alt='{caption}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{caption}</figcaption></figure>"
                )
            elif isinstance(block, Example):
                parts.append(_html_example(block))
    parts.append("</body></html>")
    path = folder / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _inline(text: str) -> str:
    escaped = html.escape(text)
    while "**" in escaped:
        escaped = escaped.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    note = f"<p class='note'>{_inline(table.note)}</p>" if table.note else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _html_example(example: Example) -> str:
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in example.facts
    )
    items = []
    for item in example.items:
        img = (
            f"<img alt='' src='data:image/jpeg;base64,{base64.b64encode(item.thumbnail).decode()}'>"
            if item.thumbnail
            else ""
        )
        label, text = html.escape(item.label), html.escape(item.text)
        items.append(f"<div class='item'>{img}<b>{label}</b><br>{text}</div>")
    return (
        f"<div class='example'><h3>[{html.escape(example.pipeline)}] "
        f"{html.escape(example.question)}</h3>"
        f"<table>{facts}</table><div class='items'>{''.join(items)}</div></div>"
    )
