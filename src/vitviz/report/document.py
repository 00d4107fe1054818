"""A tiny document model rendered twice: a self-contained offline HTML page and a markdown twin."""
from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vitviz.report import escape as esc


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
    findings: list[str] = field(default_factory=list)     # one sentence each from its numbers, for the summary

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")




def percent_interval(successes_share: float, n: int) -> str:
    """'77.5% [71.2, 82.8]': a share of n images (in %) with its 95% Wilson interval."""
    from vitviz.stats.intervals import proportion_interval
    iv = proportion_interval(round(successes_share / 100 * n), n)
    return f"{successes_share:.1f}% [{100 * iv.lo:.1f}, {100 * iv.hi:.1f}]"


def _fmt(v, floatfmt: str) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else floatfmt.format(v)
    return "" if v is None else str(v)


def render_markdown(title: str, sections: list[Section]) -> str:
    """The report as GitHub-flavoured markdown; figures are linked relative to the report folder."""
    md = esc.markdown_text
    out = [f"# {md(title)}", ""]
    out += [f"- [{md(s.title)}](#{s.anchor})" for s in sections] + [""]
    for s in sections:
        out += [f"## {md(s.title)}", ""]
        for b in s.blocks:
            if isinstance(b, Para):
                out += [md(b.text), ""]
            elif isinstance(b, Bullets):
                out += [f"- {md(item)}" for item in b.items] + [""]
            elif isinstance(b, Table):
                if b.caption:
                    out += [f"*{md(b.caption)}*", ""]
                cols = [esc.markdown_cell(c) for c in b.df.columns]
                out.append("| " + " | ".join(cols) + " |")
                out.append("|" + "|".join("---" for _ in cols) + "|")
                for row in b.df.itertuples(index=False):
                    out.append("| " + " | ".join(esc.markdown_cell(_fmt(v, b.floatfmt)) for v in row) + " |")
                out.append("")
            elif isinstance(b, Figure):
                out += [f"![{md(b.caption)}]({b.path})", "", f"*{md(b.caption)}*", ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left}td.n{text-align:right}th{background:#f3f3f3}figure{margin:1em 0}
img{max-width:100%}figcaption{font-size:.9em;color:#555}code{background:#f3f3f3;padding:0 .2em}
nav a{margin-right:1em}caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}"""


def render_html(title: str, sections: list[Section], report_dir: str | Path) -> str:
    """The report as one HTML page with its figures embedded, readable offline."""
    report_dir = Path(report_dir)
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{esc.text(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{esc.text(title)}</h1>", "<nav>"]
    out += [f"<a href='#{s.anchor}'>{esc.text(s.title)}</a>" for s in sections] + ["</nav>"]
    for s in sections:
        out.append(f"<h2 id='{s.anchor}'>{esc.text(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, Para):
                out.append(f"<p>{esc.inline_html(b.text)}</p>")
            elif isinstance(b, Bullets):
                out.append("<ul>" + "".join(f"<li>{esc.inline_html(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Table):
                out.append("<table>" + (f"<caption>{esc.inline_html(b.caption)}</caption>" if b.caption else ""))
                out.append("<tr>" + "".join(f"<th>{esc.text(str(c))}</th>" for c in b.df.columns) + "</tr>")
                for row in b.df.itertuples(index=False):
                    out.append("<tr>" + "".join(
                        f"<td{' class=n' if isinstance(v, (int, float)) and not isinstance(v, bool) else ''}>"
                        f"{esc.text(_fmt(v, b.floatfmt))}</td>" for v in row) + "</tr>")
                out.append("</table>")
            elif isinstance(b, Figure):
                data = base64.b64encode((report_dir / b.path).read_bytes()).decode()
                mime = mimetypes.guess_type(b.path)[0] or "image/png"
                out.append(f"<figure><img src='data:{mime};base64,{data}' alt='{esc.attr(b.caption)}'>"
                           f"<figcaption>{esc.inline_html(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
