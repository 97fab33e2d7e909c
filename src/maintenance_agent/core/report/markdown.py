"""The report as Markdown, with every piece of text from the data made inert. Pure."""

from __future__ import annotations

import re
from typing import Any

from .blocks import blocks
from .model import Report

_MD_SPECIAL = re.compile(r"([\\`*<\[\]|])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def md(value: Any) -> str:
    """Text from the data (device ids, messages, names) made inert in Markdown: no line breaks (so no
    injected rows or headings), no markup, links or HTML."""
    text = _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", str("" if value is None else value)))
    return "\\" + text if text.startswith(("#", "+", "-", ">", "=")) else text  # no heading, list or quote


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The report for people: the outcome first, then what changed per site and device, what went wrong in
    full, and the long tail of a large run as counts (every row stays in report.json and the CSVs)."""
    title, headline, facts, sections = blocks(report)
    out = [f"# {md(title)}", "", f"**{md(headline)}**", ""] + [f"- {md(fact)}" for fact in facts]
    for b in sections:
        if b.title:
            out += ["", f"{'#' * b.level} {md(b.title)}"]
        for paragraph in b.text:
            out += ["", md(paragraph)]
        if b.bullets:
            out += [""] + [f"- {md(item)}" for item in b.bullets]
        if b.headers:
            out += ["", _table(b.headers, b.rows)]
        if b.more:
            out += ["", md(b.more)]
    return "\n".join(out) + "\n"
