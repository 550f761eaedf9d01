"""Labels from people's files shown as text (no Streamlit here, so pure modules can use it).

Protocol, site, route, clinician, patient id, instrument, file name and uploader all come from
uploads or a practice's instruments file, and any of them may hold markup. Two renderers read
markup in the dashboard, and each gets its own escaping:

- **Streamlit Markdown** (``md_escape``): ``st.markdown``, ``st.caption``, alerts, headers,
  widget labels, expander and status labels, and the options of segmented controls, pills and
  radios. Streamlit 1.67 reads GitHub-flavoured Markdown (links, images, emphasis, code, tables,
  strikethrough, autolinked ``www.`` / ``http://`` / e-mail text), its own directives
  (``:red[…]``, ``:red-background[…]``, ``:red-badge[…]``, ``:small[…]``, ``:help[…]``,
  ``:color[…]{…}``), icons and shortcodes (``:material/name:``, ``:smile:``, ``:streamlit:``)
  and LaTeX (``$…$``). The options of ``st.selectbox`` and ``st.multiselect`` and the cells of
  ``st.dataframe`` are plain text and need nothing.
- **plotly text** (``plot_text``): titles, legend names, annotations, tick labels and hover
  text read a subset of HTML (``<a href>`` becomes a live link, ``<b>``, ``<br>`` …), hover
  templates substitute ``%{…}``, and ``$…$`` is typeset when MathJax is present.
"""

from __future__ import annotations

import re

import pandas as pd

#: Markdown and Streamlit syntax characters, backslash-escaped wherever they stand; ``_`` only
#: where it could open or close emphasis (not inside a word: "wide_again.csv" stays).
_MD_SPECIAL = re.compile(r"([\\`*~\[\]|$#@])")
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
#: A colon that could open a directive, an icon or a shortcode (``:red[``, ``:material/``,
#: ``:smile:``) or an autolink (``http://``). Backslashes do not stop the icon and shortcode
#: plugins, which read the parsed text, so an invisible word joiner is put after the colon.
_MD_COLON = re.compile(r":(?=[\w/+\-])")
WORD_JOINER = "\u2060"
#: ``www.`` starts an autolink in GitHub-flavoured Markdown.
_MD_WWW = re.compile(r"(?i)\b(www)\.")
#: List, ordered-list and heading markers where a label starts a line.
_MD_LEADING = re.compile(r"^(\s*)([+\-]|\d+(?=[.)]))")
_NEWLINES = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md_escape(text: object) -> str:
    """``text`` (a label from a file) safe inside Streamlit Markdown: shown exactly as written,
    never as a link, image, emphasis, colour, badge, icon, emoji, formula or HTML. Newlines
    become spaces, so a label cannot start a block of its own."""
    s = _NEWLINES.sub(" ", str(text)).strip()  # leading spaces would indent a code block
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _MD_UNDERSCORE.sub(r"\\_", s)
    s = _MD_COLON.sub(":" + WORD_JOINER, s)
    s = _MD_WWW.sub(r"\1\\.", s)
    m = _MD_LEADING.match(s)
    if m:  # "- x", "+ x", "1. x" at the start of a body would be a list
        head, mark = m.group(1), m.group(2)
        s = head + (f"\\{mark}" if not mark[0].isdigit() else mark + "\\") + s[m.end() :]
    return s


#: plotly text: entities for ``& < >`` (no tag, no link), character references for ``%{`` (no
#: hover-template field) and ``$`` (no MathJax). plotly turns them back into the characters.
_PLOT_REFS = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("%{", "&#37;{"), ("$", "&#36;"))


def plot_text(text: object) -> str:
    """``text`` (a label from a file) safe inside plotly text, drawn exactly as written."""
    s = str(text)
    for old, new in _PLOT_REFS:
        s = s.replace(old, new)
    return s


def plot_texts(values: pd.Series | object) -> pd.Series:
    """``plot_text`` over a column (vectorised), e.g. patient ids put in hover text."""
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    s = s.astype(str)
    for old, new in _PLOT_REFS:
        s = s.str.replace(old, new, regex=False)
    return s
