"""The claim settings' stamp (analysis.settings_stamp): the fingerprint recomputed independently,
each status, and the stamp on every output that shows a verdict (summary JSON, long CSV, claims
table, Methods sheet)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from analysis.claims.config import ClaimsConfig
from analysis.settings_stamp import (
    CHANGED,
    CHANGED_AFTER_FREEZE,
    DEFAULTS,
    FROZEN,
    NOT_VERIFIED,
    Frozen,
    canonical_json,
    config_from_json,
    settings_hash,
    settings_stamp,
)
from data.errors import AnalysisError


def _frozen(cfg: ClaimsConfig, *, n_scores: int = 0, verified: bool | None = None) -> Frozen:
    text = canonical_json(cfg)
    sha = hashlib.sha256(text.encode()).hexdigest()
    ok = True if verified is None else verified
    return Frozen(text, sha, "2026-12-01T09:30:00+00:00", "owner@practice.example", n_scores, ok)


def test_hash_is_sha256_of_the_sorted_compact_json_of_the_summary_config():
    cfg = ClaimsConfig(large_share=0.6)
    expected = hashlib.sha256(
        json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert settings_hash(cfg) == expected
    assert settings_hash(cfg) != settings_hash(ClaimsConfig())


def test_config_round_trips_through_json_and_refuses_unknown_settings():
    cfg = ClaimsConfig(faster_days=(10.0, 21.0), planned_sessions=(("intensive", 6),))
    assert config_from_json(canonical_json(cfg)) == cfg
    assert config_from_json('{"large_share": 0.4}') == ClaimsConfig(large_share=0.4)
    with pytest.raises(AnalysisError, match="Unknown claim settings: large_shares"):
        config_from_json('{"large_shares": 0.4}')
    with pytest.raises(AnalysisError, match="not valid JSON"):
        config_from_json("{large_share: 0.4}")
    with pytest.raises(AnalysisError, match="JSON object"):
        config_from_json("[0.4]")


def test_stamp_statuses():
    base = ClaimsConfig()
    assert settings_stamp(base).status == DEFAULTS
    moved = settings_stamp(replace(base, large_share=0.4))
    assert moved.status == CHANGED and moved.warns
    assert moved.changed_from_default == (("large_share", "40%", "50%"),)
    assert "large_share 40% (default 50%)" in moved.text()

    frozen = _frozen(base)
    same = settings_stamp(base, frozen)
    assert same.status == FROZEN and not same.warns
    assert same.text() == (
        "Claim settings as pre-registered: frozen 2026-12-01 09:30 UTC by owner@practice.example, "
        f"before any scores were stored (SHA-256 {frozen.sha256[:12]})."
    )
    after = settings_stamp(replace(base, large_share=0.4, min_patients=20), frozen)
    assert after.status == CHANGED_AFTER_FREEZE and after.warns
    assert after.changed_from_frozen == (
        ("min_patients", "20", "10"),
        ("large_share", "40%", "50%"),
    )
    assert after.text().startswith(
        "Claim settings changed after freezing: min_patients 20 (frozen 10); large_share 40% "
        "(frozen 50%)."
    )
    late = settings_stamp(base, _frozen(base, n_scores=5191))
    assert "after 5,191 scores were stored" in late.text()


def test_stamp_warns_when_the_frozen_settings_do_not_verify():
    stamp = settings_stamp(ClaimsConfig(), _frozen(ClaimsConfig(), verified=False))
    assert stamp.status == NOT_VERIFIED and stamp.warns
    assert "do not match their stored fingerprint" in stamp.text()


def test_frozen_settings_of_an_older_config_keep_later_fields_at_their_defaults():
    old = json.dumps({"large_share": 0.5, "min_patients": 10}, sort_keys=True)
    frozen = Frozen(old, hashlib.sha256(old.encode()).hexdigest(), "2026-01-01T00:00:00+00:00",
                    "local", 0, True)  # fmt: skip
    assert settings_stamp(ClaimsConfig(), frozen).status == FROZEN


# -- the stamp on every output -------------------------------------------------------------------
@pytest.fixture(scope="module")
def figures():
    from analysis.figures import compute_figures
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    reg = default_registry()
    cfg = ClaimsConfig(large_share=0.4)
    fig = compute_figures(generate_demo(n_patients=80), reg, cfg, n_boot=0, models=False)
    return replace(fig, settings=settings_stamp(cfg, _frozen(ClaimsConfig()))), reg


def test_stamp_is_in_the_summary_json_and_the_long_csv(figures):
    from analysis.summary import summary_json, summary_long

    fig, _ = figures
    summary = summary_json(fig)
    assert summary["settings"]["status"] == CHANGED_AFTER_FREEZE
    assert summary["settings"]["sha256"] == settings_hash(fig.config)
    assert summary["settings"]["changed_from_frozen"] == [
        {"setting": "large_share", "used": "40%", "frozen": "50%"}
    ]
    long = summary_long(summary)
    row = long[long["section"] == "settings"]
    assert row["figure"].tolist() == [fig.stamp().text()]


def test_stamp_and_multiplicity_are_in_the_claims_table_and_the_methods_sheet(figures):
    import datetime as dt

    from analysis.export import to_csv_bytes, to_markdown, to_xlsx_bytes
    from analysis.methods import methods_info
    from analysis.research import research_tables
    from data.demo.cohort import generate_demo

    fig, reg = figures
    text = fig.stamp().text()
    tables = research_tables(generate_demo(n_patients=80), fig, reg)
    claims = next(t for t in tables if t.name == "claims")
    assert set(claims.frame["settings"]) == {text}
    assert {"role", "verdict_unadjusted", "p_value", "p_adjusted"} <= set(claims.frame.columns)
    assert text in claims.notes
    assert text in to_csv_bytes(claims).decode("utf-8")
    methods = methods_info(reg, fig.config.to_dict(), dt.date(2026, 12, 6), stamp=fig.stamp())
    rows = {item: value for _, item, value in methods.rows}
    assert rows["settings stamp"] == text and rows["settings SHA-256"] == fig.stamp().sha256
    assert "Holm" in rows["multiple claims"]
    markdown = to_markdown(tables, methods=methods)
    assert "Claim settings changed after freezing: large" in markdown
    assert fig.stamp().sha256 in markdown
    assert len(to_xlsx_bytes(tables, methods)) > 0
