"""The report's escaping: text, attributes, links by scheme, markdown; against hand-written expectations."""
from __future__ import annotations

import pandas as pd
import pytest

from vitviz.report import escape as esc
from vitviz.report.document import Para, Section, Table, render_html, render_markdown

HOSTILE = "<img src=x onerror=alert(1)>"


def test_text_and_attribute_escaping():
    assert esc.text(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;"
    assert esc.attr("a' onmouseover='x") == "a&#x27; onmouseover=&#x27;x"


def test_links_keep_only_http_https_and_relative_urls():
    for ok in ("https://example.org/a", "http://x", "../atlas/vit_demo/index.html", "#scores", "figures/a.png"):
        assert esc.safe_url(ok) == ok
    for bad in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
                "vbscript:x", "//evil.example/x", "&#106;avascript:alert(1)", "/\\evil.example", "\\\\evil.example"):
        assert esc.safe_url(bad) is None, bad


def test_inline_html_links_code_and_bold():
    assert esc.inline_html("see [the atlas](../atlas/a.html) and **this**") == \
        "see <a href='../atlas/a.html'>the atlas</a> and <b>this</b>"
    assert esc.inline_html("[x](javascript:alert(1))") == "x"                    # the link is dropped, not the text
    assert esc.inline_html("`[x](javascript:alert(1))`") == "<code>[x](javascript:alert(1))</code>"   # inert
    assert esc.inline_html(HOSTILE) == esc.text(HOSTILE)


def test_rendered_report_holds_no_live_markup_from_data():
    sections = [Section(HOSTILE, [Para(f"class {HOSTILE} and [y](javascript:alert(2))"),
                                  Table(pd.DataFrame({"class": [HOSTILE]}), caption=HOSTILE)])]
    page = render_html(f"title {HOSTILE}", sections, ".")
    md = render_markdown(f"title {HOSTILE}", sections)
    for doc in (page, md):
        assert "<img" not in doc and "javascript:" not in doc.replace("`", "").split("(javascript:")[0]
    assert "javascript:" not in page and "&lt;img src=x onerror=alert(1)&gt;" in md


def test_markdown_table_cells_are_data():
    """A cell's text cannot open a tag, a link, an image, a code span or a new column in the markdown twin."""
    assert esc.markdown_cell("[click](javascript:alert(1))") == "\\[click\\](javascript:alert(1))"
    assert esc.markdown_cell("![x](y.png)") == "!\\[x\\](y.png)"
    assert esc.markdown_cell("a | b `c`") == "a \\| b \\`c\\`"
    assert esc.markdown_cell(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;"
    assert esc.markdown_cell("C:\\dir") == "C:\\\\dir"                   # a backslash stays a backslash
    md = render_markdown("t", [Section("s", [Table(pd.DataFrame({"[h](javascript:x)": ["[c](javascript:y)"]}))])])
    assert "](javascript:" not in md.replace("\\](javascript:", "")


TRICKS = ["`<img src=x onerror=alert(1)>``", "[x]( javascript:alert(1))", "[x](javascript:alert((1)))",
          "[x](javascript:alert(1) \"t\")", "<javascript:alert(1)>", "[a][b]\n\n[b]: javascript:alert(1)",
          "![i](javascript:alert(1))", "[ok](#scores) and [bad](javascript:x)"]


@pytest.mark.parametrize("text", TRICKS)
def test_markdown_text_leaves_no_tag_and_no_link_but_allowed_ones(text):
    """In the markdown twin no '<' survives, and every unescaped '[' opens a link whose url is allowed."""
    import re
    out = esc.markdown_text(text)
    assert "<" not in out
    for m in re.finditer(r"(?<!\\)\[", out):
        link = re.match(esc.LINK, out[m.start():])
        assert link is not None and esc.safe_url(link.group(2)) is not None, (text, out)


def test_markdown_text_keeps_our_markup():
    assert esc.markdown_text("see [the atlas](../atlas/a.html), **bold** and `code`") == \
        "see [the atlas](../atlas/a.html), **bold** and `code`"
    assert esc.markdown_text("[ok](#scores) and [bad](javascript:x)") == "[ok](#scores) and bad"
    assert esc.markdown_text("a [0.3, 0.7] interval") == "a \\[0.3, 0.7\\] interval"
