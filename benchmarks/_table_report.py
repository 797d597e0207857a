"""The table benchmark's report: ``tables.json`` and its markdown tables."""

import json
import pathlib

__all__ = ["markdown", "write_report"]

# (heading, function of a row giving the cell); None cells read "n/a".
_COLUMNS = (
    ("shape err %", lambda r: _fmt(r.get("shape_error"), ".1f")),
    ("trend err %", lambda r: _fmt(r.get("trend_error"), ".1f")),
    ("C2ST AUC", lambda r: _fmt(r.get("c2st_auc"), ".3f")),
    ("ML efficacy syn / real", lambda r: _efficacy(r.get("ml_efficacy"))),
    ("DCR ratio", lambda r: _fmt(r.get("dcr_ratio"), ".2f")),
    ("seen cats", lambda r: _validity(r, "seen_category_share", ".3f")),
    ("integral", lambda r: _validity(r, "integral_share", ".3f")),
    ("in bounds", lambda r: _validity(r, "in_bounds_share", ".3f")),
    ("missing Δ pp", lambda r: _validity(r, "missing_share_error", ".1f")),
    ("dtypes kept", lambda r: _dtypes(r.get("validity"))),
    ("held-out log-lik", lambda r: _fmt(r.get("held_out_log_likelihood"), ".2f")),
    ("fit s", lambda r: _fmt(r.get("fit_seconds"), ".1f")),
    ("sample s", lambda r: _fmt(r.get("sample_seconds"), ".2f")),
)


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def _efficacy(result):
    if result is None:
        return "n/a"
    return f"{result['synthetic']:.3f} / {result['real']:.3f}"


def _validity(row, key, spec):
    return _fmt((row.get("validity") or {}).get(key), spec)


def _dtypes(result):
    if result is None:
        return "n/a"
    mismatches = result["dtype_mismatches"]
    return "yes" if not mismatches else f"{len(mismatches)} changed"


def write_report(report, output):
    """Write ``tables.json`` and ``tables.md`` into the folder ``output``."""
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "tables.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "tables.md").write_text(markdown(report))
    print(f"wrote {output / 'tables.json'} and {output / 'tables.md'}", flush=True)


def markdown(report):
    """The report as markdown: the machine, the legend, one table per table.

    Parameters
    ----------
    report : dict
        What ``main`` in ``benchmarks/tables.py`` returns.

    Returns
    -------
    text : str
        Markdown.
    """
    lines = [_measured(report), "", _LEGEND]
    if report["skipped"]:
        skipped = "; ".join(f"{k} ({why})" for k, why in report["skipped"].items())
        lines += ["", f"Skipped: {skipped}."]
    for name, result in report["tables"].items():
        lines += ["", *_table_section(name, result)]
    return "\n".join(lines) + "\n"


def _measured(report):
    m = report["machine"]
    return (
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['machine']}, "
        f"{m['platform']}), {'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, "
        f"torch {m['torch']} on {m['torch_threads']} thread(s), Python "
        f"{m['python']}, scikit-learn {m['scikit-learn']}; `{report['command']}` "
        f"({report['mode']} settings) took {report['total_seconds'] / 60:.1f} minutes."
    )


_LEGEND = (
    "Samples (as many rows as the table has training rows) are compared with one "
    "half of the held-out rows; the floor row scores the other half in their "
    "place. Shape and trend errors: SDMetrics' Column Shapes and Column Pair "
    "Trends as errors in percent (KS statistic or total variation per column; "
    "correlation difference / 2 or contingency total variation per pair, "
    "numeric columns binned on the real rows' bins), lower is better. C2ST AUC: "
    "cross-validated gradient-boosted classifier telling samples from held-out "
    "rows, 0.5 is best. ML efficacy: a gradient-boosted model trained on "
    "synthetic rows, tested on the held-out half, then the same trained on as "
    "many real training rows (accuracy for a categorical target, R^2 otherwise). "
    "DCR ratio: median distance to the closest training row over the same for "
    "held-out rows (below 1: samples hug the training rows). Validity: shares of "
    "sampled categorical values seen in training, of integer columns' values "
    "that are integers and of numeric values within the training range; the "
    "largest difference in a column's missing share, in percentage points; "
    "whether every column kept its dtype. Held-out log-likelihood: mean per row, "
    "where the model defines one. Sample s: seconds to draw the samples."
)


def _table_section(name, result):
    """One table's heading, its table, then the rows' notes and errors."""
    header = ["model", *(title for title, _ in _COLUMNS)]
    lines = [
        f"### {name}",
        "",
        f"{result['n_columns']} columns; {result['description']}",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]
    notes = {}  # note -> the models it applies to, to state each once
    for row in result["rows"].values():
        cells = (
            ["failed"] * len(_COLUMNS)
            if "error" in row
            else [cell(row) for _, cell in _COLUMNS]
        )
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
        for note in [*row["notes"], *filter(None, [row.get("error")])]:
            notes.setdefault(note, []).append(row["label"])
    if notes:
        lines.append("")
        lines += [f"- {'; '.join(labels)}: {note}" for note, labels in notes.items()]
    return lines
