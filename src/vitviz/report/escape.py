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
        # protocol-relative would leave the page's origin; browsers read a backslash as a slash there
        return None if u.replace("\\", "/").startswith("//") else u
    return u if scheme.group(1).lower() in SAFE_SCHEMES else None


def _md_literal(s: str) -> str:
    """`s` with no markdown tag, autolink, link or image able to start in it: <, > as entities, [ ] escaped."""
    return (str(s).replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\[").replace("]", "\\]"))


def markdown_text(s: str) -> str:
    """Our inline markup (**bold**, `code`, [text](url)) as markdown: a link stays a link only when its url is
    allowed (`safe_url`); everywhere else <, > become entities and [ ] are escaped, so that no text from data can
    open an HTML tag or a link (code spans too: an entity there shows as typed, which is safe)."""
    out, last = [], 0
    for m in re.finditer(LINK, str(s)):
        url = safe_url(m.group(2))
        out.append(_md_literal(s[last:m.start()]))
        if url is None:
            out.append(_md_literal(m.group(1)))               # a refused link keeps its text only
        else:
            url = url.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
            out.append(f"[{_md_literal(m.group(1))}]({url})")
        last = m.end()
    out.append(_md_literal(str(s)[last:]))
    return "".join(out)


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
