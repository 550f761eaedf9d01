"""The floor under the first-chart figure: a Streamlit page with nothing but a heading and a
three-point plotly chart, served and timed exactly as the dashboard is
(``benchmarks.dashboard``). Whatever this page takes in Chromium, no page of the dashboard can
take less."""

import plotly.graph_objects as go
import streamlit as st

st.header("Floor")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
