"""A tiny document model rendered twice: a self-contained offline HTML page and a markdown twin."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Para:
    """A paragraph; `code` and **bold** spans are rendered in both formats."""
    text: str


@dataclass
class Bullets:
    """A bulleted list of short texts."""
    items: list[str]


@dataclass
class Table:
    """A table from a DataFrame, with an optional caption."""
    df: pd.DataFrame
    caption: str = ""
    floatfmt: str = "{:.2f}"


@dataclass
class Figure:
    """An image file under the report folder, with a caption."""
    path: str
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report."""
    title: str
    blocks: list = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def _fmt(v, floatfmt: str) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else floatfmt.format(v)
    return "" if v is None else str(v)


def _inline_html(text: str) -> str:
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"<a href='\2'>\1</a>", t)  # [text](relative link)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)


def render_markdown(title: str, sections: list[Section]) -> str:
    """The report as GitHub-flavoured markdown; figures are linked relative to the report folder."""
    out = [f"# {title}", ""]
    out += [f"- [{s.title}](#{s.anchor})" for s in sections] + [""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Para):
                out += [b.text, ""]
            elif isinstance(b, Bullets):
                out += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, Table):
                if b.caption:
                    out += [f"*{b.caption}*", ""]
                cols = [str(c) for c in b.df.columns]
                out.append("| " + " | ".join(cols) + " |")
                out.append("|" + "|".join("---" for _ in cols) + "|")
                for row in b.df.itertuples(index=False):
                    out.append("| " + " | ".join(_fmt(v, b.floatfmt).replace("|", "\\|") for v in row) + " |")
                out.append("")
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({b.path})", "", f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left}td.n{text-align:right}th{background:#f3f3f3}figure{margin:1em 0}
img{max-width:100%}figcaption{font-size:.9em;color:#555}code{background:#f3f3f3;padding:0 .2em}
nav a{margin-right:1em}caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}"""


def render_html(title: str, sections: list[Section], report_dir: str | Path) -> str:
    """The report as one HTML page with its figures embedded, readable offline."""
    report_dir = Path(report_dir)
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>", "<nav>"]
    out += [f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections] + ["</nav>"]
    for s in sections:
        out.append(f"<h2 id='{s.anchor}'>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, Para):
                out.append(f"<p>{_inline_html(b.text)}</p>")
            elif isinstance(b, Bullets):
                out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Table):
                out.append("<table>" + (f"<caption>{_inline_html(b.caption)}</caption>" if b.caption else ""))
                out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in b.df.columns) + "</tr>")
                for row in b.df.itertuples(index=False):
                    out.append("<tr>" + "".join(
                        f"<td{' class=n' if isinstance(v, (int, float)) and not isinstance(v, bool) else ''}>"
                        f"{html.escape(_fmt(v, b.floatfmt))}</td>" for v in row) + "</tr>")
                out.append("</table>")
            elif isinstance(b, Figure):
                data = base64.b64encode((report_dir / b.path).read_bytes()).decode()
                mime = "image/svg+xml" if b.path.endswith(".svg") else "image/png"
                out.append(f"<figure><img src='data:{mime};base64,{data}' alt='{html.escape(b.caption)}'>"
                           f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
