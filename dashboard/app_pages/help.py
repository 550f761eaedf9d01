"""Help: a glossary of every figure the dashboard shows, in plain words, with references.

Each entry is a heading with its own anchor (``dashboard/glossary.py``); every "How this is
computed" expander links here with ``?topic=<anchor>``, and that entry is then shown first.
Thresholds and cut-offs come from the instrument registry and the claim settings in use."""

from __future__ import annotations

import streamlit as st

from dashboard import access, glossary, state
from dashboard.safe_text import md_escape

TOPIC_PARAM = "topic"

access.require_page("help")  # every role may open it; checked all the same
ctx = state.context()
registry, config = ctx.registry, state.claims_config()

st.header("Help: what each figure means", anchor=False)
st.markdown(
    "Every figure on the dashboard, in plain words, with where it comes from. Thresholds and "
    "cut-offs below are the ones in use (instruments: "
    f"{md_escape(state.registry_label())}; claim settings as on the Claims page)."
)


def _render(e: glossary.Entry, *, anchor: bool = True) -> None:
    st.subheader(e.title, anchor=e.anchor if anchor else False)
    st.markdown(e.body(registry, config))
    if e.refs:
        st.caption(
            "References: " + " ".join(f"[{i + 1}] {glossary.REFS[r]}" for i, r in enumerate(e.refs))
        )


topic = st.query_params.get(TOPIC_PARAM)
if topic in glossary.ANCHORS:  # the entry a "How this is computed" link asked for, first
    with st.container(border=True, key="help_topic"):
        _render(glossary.entry(topic), anchor=False)

with st.expander("Contents", expanded=False):
    st.markdown("\n".join(f"- [{e.title}](#{e.anchor})" for e in glossary.ENTRIES))

for e in glossary.ENTRIES:
    _render(e)
