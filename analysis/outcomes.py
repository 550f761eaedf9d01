"""Per-patient outcomes (SPEC section 4): one row per patient × instrument.

``patient_outcomes(tidy, registry)`` returns these columns (docs/definitions.md states every rule
in full, with the choices made where SPEC is silent):

- identity: ``patient_id``, ``instrument``, ``protocol`` (the protocol of the patient's baseline
  assessment, else of their first assessment; one value per patient across instruments),
  ``protocol_changed`` (the patient's rows name more than one protocol), and ``site``,
  ``clinician``, ``route``, ``treatment_resistant`` when the table has them (first non-empty
  value in assessment order); ``n_assessments``.
- baseline: ``has_baseline``, ``baseline``, ``baseline_day``, ``baseline_case``,
  ``baseline_band``, ``baseline_remitted`` (already below the remission cut-off).
- end of treatment: ``n_treatment`` (assessments with session ≥ 1), ``has_eot``, ``eot``,
  ``eot_session``, ``eot_day``, ``eot_case``, ``eot_band``; ``paired`` (baseline and EOT, i.e.
  the last observation: SPEC 6.1 keeps this meaning and labels it "last observation (LOCF)").
- completers (SPEC 6.1): ``planned_last_session`` (the protocol's planned last session),
  ``completer`` (a baseline, ``eot_session`` ≥ the planned last session and at least two
  treatment-phase assessments; False for everyone else; <NA> for patients with a baseline when
  no planned session is known), ``left_early`` (a baseline and not a completer, including
  patients with no treatment-phase assessment at all; False without a baseline).
  The planned last session of a protocol comes from ``planned_sessions`` when given; otherwise
  it is inferred: the most common ``eot_session`` among the protocol's patients × instruments
  with a baseline (ties → the larger session). Dropouts spread over earlier sessions, so the
  mode recovers a fixed schedule; with courses of varying length inside one protocol it gives
  the most common length (docs/definitions.md, "Completers and leaving early").
- change: ``change`` = Instrument.improvement(baseline, eot); ``pct_change`` = 100 · change /
  baseline (baseline > 0); ``rc_threshold`` (points of change counted as reliable).
- rules (nullable boolean, <NA> unless paired): ``reliable_improvement``,
  ``reliable_deterioration``, ``response``, ``remission``, ``recovery`` and
  ``reliable_recovery`` (both <NA> unless in the clinical range at baseline).
- early change: ``first_post_session``, ``first_post_day``, ``first_post_score``,
  ``first_post_reliable_improvement``; ``s1_score``, ``s1_day``, ``s1_reliable_improvement``,
  ``s1_reliable_deterioration``.
- time to reliable improvement: ``tti_sessions``, ``tti_days``, ``tti_event`` (False =
  censored at EOT; <NA> unless paired).
- follow-up, per window w in FOLLOW_UP_WINDOWS: ``fu{w}_score``, ``fu{w}_day``,
  ``fu{w}_response``, ``sustained{w}``; ``has_follow_up`` (any window).
- recall window: ``n_recall_violations``, ``recall_violation``.

Rows come in the order patients first appear in the table, instruments alphabetically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.assessments import DESCRIPTIVE, Assessments, boolean, integer, take
from analysis.joint import joint_recovery
from data.errors import AnalysisError
from data.instruments import Instrument, Registry
from data.schema import STRING

__all__ = [
    "FLAG_COLUMNS",
    "FOLLOW_UP_WINDOWS",
    "as_all_starters",
    "joint_recovery",
    "patient_outcomes",
    "planned_last_sessions",
    "window_prefix",
]

#: Follow-up windows: (days after EOT, ± days), SPEC section 4.
FOLLOW_UP_WINDOWS: tuple[tuple[float, float], ...] = ((30, 15), (90, 30), (180, 45))
#: Response: change of at least this fraction of the baseline score (SPEC section 4).
RESPONSE_FRACTION = 0.5
#: Outcome rules counted by the rates module under both denominators.
FLAG_COLUMNS = (
    "reliable_improvement",
    "reliable_deterioration",
    "response",
    "remission",
    "recovery",
    "reliable_recovery",
)
# Scores can be prorated (e.g. 9 × mean of 7 items), so comparisons allow for rounding.
_TOL = 1e-9


def window_prefix(days: float) -> str:
    """Column prefix of a follow-up window: ``fu90`` for 90 days."""
    return f"fu{days:g}"


def _on_distinct(method, ins: Instrument, scores: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Apply an Instrument rule to the distinct scores only (scores repeat a lot): the
    rule's result per distinct score and each score's position in it (−1 for NaN)."""
    codes, uniques = pd.factorize(scores)
    return getattr(ins, method)(pd.Series(uniques, dtype="float64")), codes


def _per_instrument_bool(method, scores: np.ndarray, which: np.ndarray, instruments) -> tuple:
    """Apply an Instrument rule (is_case, is_remitted) per instrument: (values, defined)."""
    values = np.zeros(len(scores), dtype=bool)
    defined = np.zeros(len(scores), dtype=bool)
    for k, ins in enumerate(instruments):
        sel = which == k
        if sel.any():
            res, codes = _on_distinct(method, ins, scores[sel])
            ok = codes >= 0
            v = res.fillna(False).to_numpy(dtype=bool)
            d = res.notna().to_numpy(dtype=bool)
            values[sel] = ok & v[np.maximum(codes, 0)] if len(v) else False
            defined[sel] = ok & d[np.maximum(codes, 0)] if len(d) else False
    return values, defined


def _bands(scores: np.ndarray, which: np.ndarray, instruments) -> pd.arrays.ArrowStringArray:
    out = np.full(len(scores), None, dtype=object)
    for k, ins in enumerate(instruments):
        sel = np.flatnonzero(which == k)
        if sel.size:
            res, codes = _on_distinct("severity", ins, scores[sel])
            labels = np.append(res.to_numpy(dtype=object, na_value=None), None)
            out[sel] = labels[codes]  # code −1 picks the trailing None
    return pd.array(out, dtype=STRING)


def _thresholds(
    instruments: Sequence[Instrument],
    which: np.ndarray,
    protocol: np.ndarray,
    baseline: np.ndarray,
    paired: np.ndarray,
) -> np.ndarray:
    """Reliable-change threshold of each group's protocol × instrument.

    Fixed thresholds come straight from the registry. For the Jacobson–Truax rule with
    ``rci_sd = "sample"`` the SD is the baseline SD (ddof = 1) of the paired patients of the same
    protocol and instrument; with fewer than two such patients, or no spread, it is NaN and the
    reliable-change rules are left undefined (<NA>) for that group.
    """
    thr = np.full(len(which), np.nan)
    for k, ins in enumerate(instruments):
        sel = which == k
        if not sel.any():
            continue
        if ins.rci_method == "jacobson-truax" and ins.rci_sd == "sample":
            for p in np.unique(protocol[sel]):
                grp = sel & (protocol == p)
                b = baseline[grp & paired]
                sd = float(np.std(b, ddof=1)) if b.size >= 2 else np.nan
                thr[grp] = ins.reliable_change_threshold(sd) if sd > 0 else np.nan
        else:
            thr[sel] = ins.reliable_change_threshold(None)
    return thr


def _planned_last_session(
    labels: Sequence[object],
    prot_code: np.ndarray,
    eot_session: np.ndarray,
    has_baseline: np.ndarray,
    planned_sessions: Mapping[str, int] | None,
) -> np.ndarray:
    """Planned last session per protocol code (float, NaN when unknown).

    ``planned_sessions`` (protocol label → planned last session) wins; for the other protocols,
    the mode of ``eot_session`` over the protocol's rows with a baseline and an EOT, ties going
    to the larger session. One ``np.unique`` over (protocol, session) keys: no loop over rows.
    """
    planned = np.full(len(labels), np.nan)
    ok = has_baseline & ~np.isnan(eot_session) & (prot_code >= 0)
    if ok.any():
        p = prot_code[ok].astype(np.int64)
        s = eot_session[ok].astype(np.int64)
        base = int(s.max()) + 1
        keys, counts = np.unique(p * base + s, return_counts=True)
        kp, ks = keys // base, keys % base
        order = np.lexsort((ks, counts, kp))  # by protocol, then count, then session
        kp, ks = kp[order], ks[order]
        last = np.r_[kp[1:] != kp[:-1], True]  # per protocol: most common, ties → larger
        planned[kp[last]] = ks[last]
    for label, value in (planned_sessions or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise AnalysisError(
                f"The planned last session of protocol {label!r} must be a whole number of 1 or "
                f"more (got {value!r})."
            )
        planned[[i for i, x in enumerate(labels) if x == label]] = float(value)
    return planned


def patient_outcomes(
    tidy: pd.DataFrame | Assessments,
    registry: Registry,
    *,
    windows: Sequence[tuple[float, float]] = FOLLOW_UP_WINDOWS,
    planned_sessions: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Per patient × instrument outcomes (SPEC section 4; columns in the module docstring).

    ``tidy`` is a conformed tidy table (or its ``Assessments``); ``registry`` supplies every cut-off and threshold.
    ``planned_sessions`` maps a protocol label to its planned last session (completers, SPEC
    6.1); protocols not in it get the most common last session of their patients with a
    baseline (ties → the larger).
    Assessments without a total score are ignored here (they still count as "assessed").
    Vectorised: one sort of the table, then numpy picks per group.
    """
    a = Assessments.build(tidy)
    instruments = [registry.get(k) for k in a.instruments]
    n_groups, gi, gp = a.n_groups, a.group_instrument, a.group_patient

    scored = ~np.isnan(a.score)
    treat = scored & (a.session >= 1)
    base_pos = a.first(scored & (a.session == 0))
    eot_pos = a.last(treat)
    post_pos = a.first(treat)
    s1_pos = a.first(scored & (a.session == 1))

    patients = a.patients_frame()
    out: dict[str, object] = {
        "patient_id": patients["patient_id"].array.take(gp),
        "instrument": pd.array(list(a.instruments), dtype=STRING).take(gi),
        "protocol": patients["protocol"].array.take(gp),
        "protocol_changed": patients["protocol_changed"].to_numpy(dtype=bool)[gp],
    }
    for c in DESCRIPTIVE:
        if c in patients.columns:
            out[c] = patients[c].array.take(gp)
    out["n_assessments"] = np.bincount(a.group, minlength=n_groups)

    baseline, eot = take(a.score, base_pos), take(a.score, eot_pos)
    has_b, has_e = base_pos >= 0, eot_pos >= 0
    paired = has_b & has_e
    sign = np.ones(n_groups)
    recall = np.full(n_groups, np.nan)
    change = np.full(n_groups, np.nan)
    for k, ins in enumerate(instruments):
        sel = gi == k
        sign[sel] = ins.improvement(1.0, 0.0)
        recall[sel] = np.nan if ins.recall_days is None else ins.recall_days
        change[sel] = ins.improvement(baseline[sel], eot[sel])
    prot_codes, prot_labels = pd.factorize(patients["protocol"].array)
    prot_code = prot_codes[gp]
    thr = _thresholds(instruments, gi, prot_code, baseline, paired)
    has_thr = ~np.isnan(thr)

    case_b, case_b_def = _per_instrument_bool("is_case", baseline, gi, instruments)
    case_e, case_e_def = _per_instrument_bool("is_case", eot, gi, instruments)
    rem_b, rem_b_def = _per_instrument_bool("is_remitted", baseline, gi, instruments)
    rem_e, rem_e_def = _per_instrument_bool("is_remitted", eot, gi, instruments)
    out.update(
        has_baseline=has_b,
        baseline=baseline,
        baseline_day=take(a.day, base_pos),
        baseline_case=boolean(case_b, case_b_def),
        baseline_band=_bands(baseline, gi, instruments),
        baseline_remitted=boolean(rem_b, rem_b_def),
        n_treatment=a.count(treat),
        has_eot=has_e,
        eot=eot,
        eot_session=integer(take(a.session, eot_pos)),
        eot_day=take(a.day, eot_pos),
        eot_case=boolean(case_e, case_e_def),
        eot_band=_bands(eot, gi, instruments),
        paired=paired,
    )
    out.update(
        _completers(
            list(prot_labels),
            prot_code,
            take(a.session, eot_pos),
            has_b,
            out["n_treatment"],
            planned_sessions,
        )
    )

    with np.errstate(invalid="ignore", divide="ignore"):
        positive = baseline > 0
        ri = change >= thr - _TOL
        rd = -change >= thr - _TOL
        response = change >= RESPONSE_FRACTION * baseline - _TOL
        pct = np.where(paired & positive, 100.0 * change / baseline, np.nan)
    rc_def = paired & has_thr
    rec_def = paired & case_b_def & case_b & case_e_def
    recovery = ~case_e
    out.update(
        change=change,
        pct_change=pct,
        rc_threshold=thr,
        reliable_improvement=boolean(ri, rc_def),
        reliable_deterioration=boolean(rd, rc_def),
        response=boolean(response, paired & positive),
        remission=boolean(rem_e, paired & rem_e_def),
        recovery=boolean(recovery, rec_def),
        reliable_recovery=boolean(recovery & ri, rec_def & rc_def),
    )
    out.update(_early(a, sign, baseline, thr, post_pos, s1_pos))
    out.update(_time_to_improvement(a, treat, sign, baseline, thr, eot_pos, paired & has_thr))
    out.update(_follow_up(a, scored, sign, baseline, eot_pos, out["response"], windows))
    out.update(_recall(a, recall))
    return pd.DataFrame(out)


def _completers(
    labels, prot_code, eot_session, has_b, n_treatment, planned_sessions
) -> dict[str, object]:
    """``planned_last_session``, ``completer`` and ``left_early`` (SPEC 6.1)."""
    by_protocol = _planned_last_session(labels, prot_code, eot_session, has_b, planned_sessions)
    planned = np.where(prot_code >= 0, by_protocol[np.maximum(prot_code, 0)], np.nan)
    known = ~np.isnan(planned)
    with np.errstate(invalid="ignore"):
        reached = eot_session >= planned  # False where either is NaN
    done = has_b & reached & (np.asarray(n_treatment) >= 2)
    defined = ~has_b | known  # a patient with a baseline needs a known planned session
    return {
        "planned_last_session": integer(planned),
        "completer": boolean(done, defined),
        "left_early": boolean(has_b & ~done, defined),
    }


def _early(a: Assessments, sign, baseline, thr, post_pos, s1_pos) -> dict[str, object]:
    """First post-baseline assessment (lowest session ≥ 1, earliest day) and session 1."""
    res: dict[str, object] = {}
    for name, pos in (("first_post", post_pos), ("s1", s1_pos)):
        score = take(a.score, pos)
        change = sign * (baseline - score)
        defined = (pos >= 0) & ~np.isnan(baseline) & ~np.isnan(thr)
        with np.errstate(invalid="ignore"):
            ri = change >= thr - _TOL
            rd = -change >= thr - _TOL
        if name == "first_post":
            res["first_post_session"] = integer(take(a.session, pos))
        res[f"{name}_day"] = take(a.day, pos)
        res[f"{name}_score"] = score
        res[f"{name}_reliable_improvement"] = boolean(ri, defined)
        if name == "s1":
            res["s1_reliable_deterioration"] = boolean(rd, defined)
    return res


def _time_to_improvement(a, treat, sign, baseline, thr, eot_pos, defined) -> dict[str, object]:
    """First treatment-phase assessment meeting reliable improvement; else censored at EOT."""
    rows = np.flatnonzero(treat)
    g = a.group[rows]
    meets = np.zeros(len(a.row), dtype=bool)
    with np.errstate(invalid="ignore"):
        meets[rows] = sign[g] * (baseline[g] - a.score[rows]) >= thr[g] - _TOL
    hit = a.first(meets)
    event = hit >= 0
    pos = np.where(event, hit, eot_pos)
    pos = np.where(defined, pos, -1)
    return {
        "tti_sessions": integer(take(a.session, pos)),
        "tti_days": take(a.day, pos),
        "tti_event": boolean(event, defined),
    }


def _follow_up(a, scored, sign, baseline, eot_pos, response, windows) -> dict[str, object]:
    """Per window: the follow-up-phase assessment nearest EOT day + w, within ± half-width;
    ties go to the earlier assessment."""
    res: dict[str, object] = {}
    eot_day = take(a.day, eot_pos)
    rows = np.flatnonzero(scored & a.follow_up & ~np.isnan(a.day))
    g = a.group[rows]
    offset = a.day[rows] - eot_day[g]
    responder = np.asarray(response.fillna(False), dtype=bool)
    any_fu = np.zeros(a.n_groups, dtype=bool)
    for centre, half in windows:
        with np.errstate(invalid="ignore"):
            dist = np.abs(offset - centre)
            inside = dist <= half + _TOL
        r, gg, dd = rows[inside], g[inside], dist[inside]
        order = np.lexsort((dd, gg))  # stable: equal distances keep assessment order
        r, gg = r[order], gg[order]
        first = np.r_[True, gg[1:] != gg[:-1]] if gg.size else gg.astype(bool)
        pos = np.full(a.n_groups, -1, dtype=np.int64)
        pos[gg[first]] = r[first]
        score = take(a.score, pos)
        found = pos >= 0
        defined = found & (baseline > 0)
        with np.errstate(invalid="ignore"):
            fu_resp = sign * (baseline - score) >= RESPONSE_FRACTION * baseline - _TOL
        p = window_prefix(centre)
        res[f"{p}_score"] = score
        res[f"{p}_day"] = take(a.day, pos)
        res[f"{p}_response"] = boolean(fu_resp, defined)
        res[f"sustained{centre:g}"] = boolean(fu_resp, defined & responder)
        any_fu |= found
    res["has_follow_up"] = any_fu
    return res


def _recall(a: Assessments, recall: np.ndarray) -> dict[str, object]:
    """Consecutive assessments (by day) of one instrument closer than its recall window."""
    idx = np.flatnonzero(~np.isnan(a.day))
    idx = idx[np.argsort(a.group[idx] * a.n_dcodes + a.dcode[idx], kind="stable")]
    g, d = a.group[idx], a.day[idx]
    with np.errstate(invalid="ignore"):
        close = (g[1:] == g[:-1]) & (d[1:] - d[:-1] < recall[g[1:]] - _TOL)
    n = np.bincount(g[1:][close], minlength=a.n_groups).astype(float)
    has = ~np.isnan(recall)
    n[~has] = np.nan
    return {"n_recall_violations": integer(n), "recall_violation": boolean(n > 0, has)}


def planned_last_sessions(outcomes: pd.DataFrame) -> dict[str, int]:
    """Protocol → planned last session of an outcomes table (protocols where it is known).

    Pass it as ``planned_sessions`` when computing outcomes on part of the same data (a
    filtered table), so completers are judged against the whole practice's schedule rather than
    re-inferred from the part: ``patient_outcomes(part, registry,
    planned_sessions=planned_last_sessions(whole))``.
    """
    known = outcomes.loc[outcomes["planned_last_session"].notna(), ["protocol"]]
    known = known.assign(planned=outcomes["planned_last_session"]).dropna(subset=["protocol"])
    first = known.drop_duplicates("protocol")
    return {str(p): int(v) for p, v in zip(first["protocol"], first["planned"], strict=True)}


def as_all_starters(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcomes under the "everyone who started" denominator (SPEC section 5).

    Keeps patients with a baseline; for those without an EOT, each rule in FLAG_COLUMNS
    becomes False (not achieved) wherever the patient was eligible for it from their baseline
    alone: reliable change when a threshold exists, response when baseline > 0, remission when
    the instrument has a remission cut-off, recovery and reliable recovery when in the clinical
    range at baseline. Ineligible patients stay <NA>, as they are among completers. Counting
    non-completers as "not deteriorated" flatters reliable deterioration; read that rate on
    completers.
    """
    out = outcomes.loc[outcomes["has_baseline"].to_numpy(dtype=bool)].copy()
    dropout = ~out["paired"].to_numpy(dtype=bool)
    has_thr = out["rc_threshold"].notna().to_numpy()
    case = out["baseline_case"].fillna(False).to_numpy(dtype=bool)
    eligible = {
        "reliable_improvement": has_thr,
        "reliable_deterioration": has_thr,
        "response": out["baseline"].to_numpy(dtype=float) > 0,
        "remission": out["baseline_remitted"].notna().to_numpy(),
        "recovery": case,
        "reliable_recovery": case & has_thr,
    }
    for col, ok in eligible.items():
        out[col] = out[col].mask(dropout & ok, False)
    return out
