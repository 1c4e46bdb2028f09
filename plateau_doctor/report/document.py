"""The report as a document: a list of blocks (headings, paragraphs, lists, tables, images).

The report is built once as blocks and rendered twice, to Markdown and to HTML, so both
always hold the same text. Every string is escaped here, so section builders pass plain
text (user strings included) and images as PNG bytes, inlined as base64.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 62rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
"""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    lead: str = ""


@dataclass(frozen=True)
class Bullets:
    items: list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    alt: str
    png: bytes


Block = Union[Heading, Paragraph, Bullets, Table, Image]


def _md(text: str) -> str:
    """Markdown text: HTML-special characters escaped, one line."""
    return html.escape(str(text), quote=False).replace("\n", " ")


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_markdown(blocks: Iterable[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {_md(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(f"**{_md(block.lead)}** {_md(block.text)}" if block.lead else _md(block.text))
        elif isinstance(block, Bullets):
            parts.append("\n".join(
                f"- **{_md(lead)}** {_md(text)}" if lead else f"- {_md(text)}" for lead, text in block.items
            ))
        elif isinstance(block, Table):
            lines = [
                "| " + " | ".join(_md_cell(cell) for cell in block.header) + " |",
                "|" + "---|" * len(block.header),
                *("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows),
            ]
            parts.append("\n".join(lines))
        else:
            parts.append(f"![{_md(block.alt)}]({_data_uri(block.png)})")
    return "\n\n".join(parts) + "\n"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def to_html(blocks: Iterable[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            lead = f"<strong>{_esc(block.lead)}</strong> " if block.lead else ""
            body.append(f"<p>{lead}{_esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(
                f"<li><strong>{_esc(lead)}</strong> {_esc(text)}</li>" if lead else f"<li>{_esc(text)}</li>"
                for lead, text in block.items
            )
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_esc(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            body.append(f'<p><img alt="{html.escape(block.alt)}" src="{_data_uri(block.png)}"></p>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
