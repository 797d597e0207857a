"""README table of the held-out likelihood at the defaults, before and now.

Reads ``results/run.json`` (the full run of 2026-11-30, at the defaults of
then) and the filtered runs at today's defaults in
``results/defaults_tables/run.json`` and ``results/defaults_2d/run.json``
(see the README's "Held-out likelihood at the defaults" for their commands),
and rewrites the README between ``<!-- defaults:start -->`` and
``<!-- defaults:end -->``.

Usage::

    python benchmarks/defaults_report.py
"""

import json
import math
import pathlib

RESULTS = pathlib.Path(__file__).parent / "results"
README = pathlib.Path(__file__).parents[1] / "README.md"
START, END = "<!-- defaults:start -->", "<!-- defaults:end -->"
ORDER = (
    "checkerboard",
    "gaussian_grid",
    "funnel",
    "moons",
    "wine",
    "breast_cancer",
    "diabetes",
    "digits",
)
PEERS = (("gmm", "GaussianMixture (BIC)"), ("kde", "KernelDensity (CV)"))


def _load(path):
    return json.loads(path.read_text())["datasets"] if path.exists() else {}


def _loglik(row, defined=False):
    """The mean held-out log-likelihood of a result row, as the README shows it.

    JSON has no infinity, so the runs store a mean of ``-inf`` as null; for a
    model that ``defined`` a likelihood, null is that.
    """
    value = None if row is None else row.get("held_out_log_likelihood")
    if value is None or value == -math.inf:
        return "-inf" if defined and row is not None else "n/a"
    return f"{value:.3f}"


def table():
    """The markdown table, one row per dataset that a run at today's defaults has."""
    before = _load(RESULTS / "run.json")
    now = {
        **_load(RESULTS / "defaults_2d" / "run.json"),
        **_load(RESULTS / "defaults_tables" / "run.json"),
    }
    header = [
        "dataset",
        "true density",
        "default, before",
        "default, now",
        *(label for _, label in PEERS),
        "zuko NSF",
        "DCR ratio, now",
        "fit s, now",
        "steps, now",
    ]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * 9]
    for name in ORDER:
        if name not in now:
            continue
        rows = now[name]["rows"]
        ours = rows["default"]
        old = before.get(name, {}).get("rows", {}).get("default")
        cells = [
            name,
            _loglik(rows.get("floor")),
            _loglik(old, defined=True),
            _loglik(ours, defined=True),
            *(_loglik(rows.get(key)) for key, _ in PEERS),
            _loglik(rows.get("zuko")),
            f"{ours['dcr_ratio']:.3f}",
            f"{ours['fit_seconds']:.1f}",
            str(ours["n_iter"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    text = README.read_text()
    head, rest = text.split(START)
    _, tail = rest.split(END)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    main()
