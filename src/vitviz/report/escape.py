"""Escaping for the report: text and attributes of HTML, links by an allow-list of schemes, and markdown text,
so that no name from a dataset or a params file (a class name, a CLIP word, a title) runs in a reader's browser."""
from __future__ import annotations

import html
import re

SAFE_SCHEMES = ("http", "https")


def text(s: str) -> str:
    """`s` as HTML text (element content)."""
    return html.escape(str(s), quote=False)


def attr(s: str) -> str:
    """`s` as an HTML attribute value (quotes escaped too)."""
    return html.escape(str(s), quote=True)


def safe_url(url: str) -> str | None:
    """`url` if it is http(s) or relative (a path or a #fragment, no scheme), else None (javascript:, data:, ...)."""
    u = html.unescape(str(url)).strip()
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", re.sub(r"[\x00-\x20]", "", u))
    if scheme is None:
        return None if u.startswith("//") else u      # protocol-relative would leave the page's origin
    return u if scheme.group(1).lower() in SAFE_SCHEMES else None


def markdown_text(s: str) -> str:
    """`s` for markdown: the characters that open and close HTML tags (<, >) as entities, outside code spans."""
    parts = re.split(r"(`[^`]*`)", str(s))
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1 else
                   p.replace("<", "&lt;").replace(">", "&gt;") for p in parts)


def markdown_cell(s: str) -> str:
    """`s` as the literal text of a markdown table cell (data, never markup): no tag, link, code span or column
    break can start in it."""
    s = str(s).replace("\\", "\\\\")
    for ch in "[]`|":
        s = s.replace(ch, "\\" + ch)
    return s.replace("<", "&lt;").replace(">", "&gt;")


LINK = r"\[([^\]]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)"     # [text](url), the url with one level of (...)


def inline_html(s: str) -> str:
    """Our inline markup as HTML: `code` (never parsed further), [text](url) with an allowed url (else the text
    alone), **bold**; everything else escaped."""
    out = []
    for part in re.split(r"(`[^`]+`)", str(s)):
        if part.startswith("`") and part.endswith("`") and len(part) > 2:
            out.append(f"<code>{text(part[1:-1])}</code>")
            continue
        pieces, last = [], 0
        for m in re.finditer(LINK, part):
            pieces.append(_bold(text(part[last:m.start()])))
            url = safe_url(m.group(2))
            label = _bold(text(m.group(1)))
            pieces.append(f"<a href='{attr(url)}'>{label}</a>" if url is not None else label)
            last = m.end()
        pieces.append(_bold(text(part[last:])))
        out.append("".join(pieces))
    return "".join(out)


def _bold(escaped: str) -> str:
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
