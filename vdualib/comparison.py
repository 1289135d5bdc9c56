"""The dual IB against the VIB and a deterministic network, as a published comparison.

:func:`merge_evaluations` joins the per-model ``metrics.json`` files of one data set (written by
the same evaluation: same split, corruptions, severities, OOD sets and seed) into one results
dict, so :func:`vdualib.evaluation.write_report` renders a single report with overlaid plots.
:func:`method_deltas` states, from those numbers, how VdualIB differs from VIB and from the
deterministic model on each measure.
"""

import numpy as np

from vdualib import reports

__all__ = ["merge_evaluations", "method_deltas", "summary_rows"]

_SAME = ("dataset", "split", "num_examples", "num_bins", "seed", "corruptions", "severities", "ood_sets")


def merge_evaluations(paths):
    """One results dict from several single-model ``metrics.json`` files of the same evaluation."""
    records = [reports.read_json(p) for p in paths]
    if not records:
        raise ValueError("merge_evaluations needs at least one metrics.json.")
    first = records[0]
    for path, record in zip(paths, records):
        for key in _SAME:
            if record[key] != first[key]:
                raise ValueError(f"{path} differs from {paths[0]} in {key!r}; evaluate the models the same way.")
    merged = dict(first)
    merged["models"] = [m for r in records for m in r["models"]]
    merged["provenance"] = reports.provenance(sources=[str(p) for p in paths])
    return merged


def summary_rows(results):
    """One row per model: clean, corrupted (mean over severities) and OOD (AUROC) figures."""
    rows = []
    for m in results["models"]:
        shift = m.get("corruption_summary", {}).get("mean", {})
        row = {
            "model": m["label"],
            "method": m["method"],
            "accuracy": m["clean"]["accuracy"],
            "nll": m["clean"]["nll"],
            "brier": m["clean"]["brier"],
            "ece": m["clean"]["ece"],
            "ece_after_ts": m["temperature_scaling"]["after"]["ece"],
            # descriptive, not scored: T > 1 means the model was overconfident
            "ts_temperature": m["temperature_scaling"].get("temperature"),
            "mean_confidence": _mean_confidence(m.get("reliability")),
            "shift_accuracy": shift.get("accuracy"),
            "shift_nll": shift.get("nll"),
            "shift_ece": shift.get("ece"),
        }
        for ood_name, scores in m["ood"].items():
            row[f"auroc_{ood_name}_entropy"] = scores["entropy"]["auroc"]
            if "rate" in scores:
                row[f"auroc_{ood_name}_rate"] = scores["rate"]["auroc"]
        rows.append(row)
    return rows


def _mean_confidence(reliability):
    """Mean top-label probability on the test split, from the reliability curve's bins."""
    if not reliability:
        return None
    counts = np.asarray(reliability["count"], dtype=np.float64)
    confidence = np.nan_to_num(np.asarray(reliability["confidence"], dtype=np.float64))
    return float(np.sum(counts * confidence) / np.sum(counts))


_LOWER_IS_BETTER = {"nll", "brier", "ece", "ece_after_ts", "shift_nll", "shift_ece"}
_DESCRIPTIVE = {"ts_temperature", "mean_confidence"}


def method_deltas(rows, method="dualib", against=("vib", "deterministic")):
    """For each measure, ``method``'s value minus each baseline's and whether it is better."""
    by_method = {r["method"]: r for r in rows}
    if method not in by_method:
        return []
    deltas = []
    for baseline in against:
        if baseline not in by_method:
            continue
        for key, value in by_method[method].items():
            other = by_method[baseline].get(key)
            if key in ("model", "method", *_DESCRIPTIVE) or value is None or other is None:
                continue
            difference = value - other
            better = difference < 0 if key in _LOWER_IS_BETTER else difference > 0
            deltas.append({"measure": key, "versus": baseline, method: value, baseline: other, "difference": difference, "better": better})
    return deltas
