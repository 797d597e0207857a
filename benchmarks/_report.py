"""The benchmark's report: its JSON, its markdown tables and the README's block."""

import datetime
import json
import os
import pathlib
import platform
import re
import textwrap

import numpy as np
import sklearn
import torch
from _catalogue import NEURAL
from sklearn.base import BaseEstimator

__all__ = [
    "jsonable",
    "machine",
    "markdown",
    "readme_section",
    "replace_readme_block",
    "write_readme",
    "write_report",
]


def machine():
    """The machine the benchmark ran on, for the report's header."""
    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
    }


def jsonable(value):
    """Tuples to lists, NumPy scalars to numbers, estimators to their repr."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, BaseEstimator):
        return repr(value)
    return value


def write_report(report, output):
    """Write ``run.json`` and ``run.md`` into the folder ``output``."""
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "run.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "run.md").write_text(markdown(report))
    print(f"wrote {output / 'run.json'} and {output / 'run.md'}", flush=True)


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


_COLUMNS = (
    ("energy distance", "energy_distance", ".4f"),
    ("ED / floor", "energy_ratio_to_floor", ".1f"),
    ("sliced W2", "sliced_wasserstein", ".3g"),
    ("C2ST AUC", "c2st_auc", ".3f"),
    ("held-out log-lik", "held_out_log_likelihood", ".3f"),
    ("DCR ratio", "dcr_ratio", ".3f"),
    ("fit s", "fit_seconds", ".1f"),
    ("sample s", "sample_seconds", ".2f"),
    ("NFE", "velocity_evaluations", "d"),
)


def _measured(report):
    m = report["machine"]
    return (
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['machine']}, "
        f"{m['platform']}), {'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, "
        f"torch {m['torch']} on {m['torch_threads']} thread(s), Python "
        f"{m['python']}, scikit-learn {m['scikit-learn']}; "
        f"`{report['command']}` took {report['total_seconds'] / 60:.1f} minutes."
    )


def _skipped(report):
    skipped = "; ".join(f"{k} ({why})" for k, why in report["skipped"].items())
    return f"Skipped: {skipped}."


def _table_head(header):
    """A markdown table's header line and its rule, the first column left."""
    return [
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]


def markdown(report):
    """The report as markdown: the machine, then one table per dataset.

    Parameters
    ----------
    report : dict
        What ``main`` in ``benchmarks/run.py`` returns.

    Returns
    -------
    text : str
        Markdown that the README can include verbatim.
    """
    lines = [_measured(report), "", _markdown_legend(report["settings"])]
    if report["skipped"]:
        lines += ["", _skipped(report)]
    for name, result in report["datasets"].items():
        lines += ["", *_dataset_table(name, result)]
    return "\n".join(lines) + "\n"


def _markdown_legend(settings):
    """What each column of the full tables measures, at these settings."""
    draws = settings["n_energy_draws"]
    return (
        f"Energy distance (up to {settings['n_energy']} rows a side, the mean "
        f"over {draws} sample draws), sliced W2 and classifier two-sample AUC "
        f"(gradient-boosted trees, {settings['c2st_folds']} folds, up to "
        f"{settings['n_c2st']} rows a side), these two on the first draw, compare "
        "samples with held-out rows: lower is better, 0.5 is best for the AUC. "
        "`ED / floor` divides the energy distance by the floor's spread: the root "
        "mean square, over "
        f"{settings['n_floor_replicates']} replicates, of the energy distance of "
        "true samples (which score 0 on average). On the synthetic sets each "
        "draw meets its own fresh held-out rows, and each replicate averages "
        f"{draws} fresh draws as a model's does, so about 1 or "
        "less cannot be told from fresh data; the tables are too small for that, "
        "and their floor, one held-out half against the other, spreads as a single "
        f"draw does, more than a mean of {draws}: there the ratio is lenient. "
        "Held-out log-likelihood: mean nats per row over the same held-out rows "
        f"(at most {settings['n_loglik']}), higher is better; the floor's is that "
        "of the true density. DCR ratio: median distance to the closest training "
        "row over the same for held-out rows (below 1: samples hug the training "
        f"rows). Sample s: seconds to draw {settings['n_sample']} rows. NFE: "
        "velocity evaluations per sample (RK4 steps x 4). Steps: training steps "
        "run / allowed."
    )


def _dataset_table(name, result):
    """One dataset's section: its heading, its table, then the rows' notes."""
    lines = [
        f"### {name}",
        "",
        f"{result['n_features']} columns; {result['description']}",
        "",
        *_table_head(["model", *(title for title, _, _ in _COLUMNS), "steps"]),
    ]
    notes = {}  # note -> the models it applies to, to state each once
    for row in result["rows"].values():
        lines.append(f"| {row['label']} | " + " | ".join(_model_cells(row)) + " |")
        for note in [*row["notes"], *filter(None, [row.get("error")])]:
            notes.setdefault(note, []).append(row["label"])
    if notes:
        lines.append("")
        lines += [f"- {'; '.join(labels)}: {note}" for note, labels in notes.items()]
    return lines


def _model_cells(row):
    """A row's cells in the full table, after its label."""
    if "error" in row:
        return ["failed"] * len(_COLUMNS) + [""]
    cells = [_fmt(row.get(key), spec) for _, key, spec in _COLUMNS]
    steps = row.get("n_iter")
    cells.append("" if steps is None else f"{steps}/{row['max_iter']}")
    return cells


# The 2D sets, where the targets apply: the default's energy
# distance within 2x of the floor, and at most every peer's.
_CHECKED = ("checkerboard", "gaussian_grid", "funnel", "moons")


def _cell(row):
    if row is None:
        return "n/a"
    if "error" in row:
        return "failed"
    return f"{row['energy_ratio_to_floor']:.1f} / {row['c2st_auc']:.3f}"


def readme_section(report):
    """The README's summary of a report: one row per dataset, then the checks.

    Parameters
    ----------
    report : dict
        What ``main`` in ``benchmarks/run.py`` returns, or
        ``benchmarks/results/run.json``.

    Returns
    -------
    text : str
        Markdown for the README's results block.
    """
    results = report["datasets"]
    peers = _peer_labels(results)
    header = ["dataset", "floor", "ours: default", "ours: best other", *peers.values()]
    lines = [
        _wrap(_measured(report)),
        "",
        # Reports from before the energy distance was averaged scored one draw.
        _wrap(_readme_legend(report["settings"].get("n_energy_draws", 1))),
        "",
        *_table_head(header),
    ]
    for name, result in results.items():
        cells = _summary_cells(result["rows"], peers)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if report["skipped"]:
        lines += ["", _wrap(_skipped(report))]
    lines += _checks(results)
    lines += [
        "",
        _wrap(
            "Full tables, with sliced W2, held-out log-likelihood, memorisation "
            "and timings for every variant: "
            "[benchmarks/results/run.md](benchmarks/results/run.md)."
        ),
    ]
    return "\n".join(lines) + "\n"


def _peer_labels(results):
    """Key -> label of every peer that ran on some dataset, in order of first run."""
    peers = {}
    for result in results.values():
        for key, row in result["rows"].items():
            if key != "floor" and key not in NEURAL:
                peers.setdefault(key, row["label"])
    return peers


def _readme_legend(draws):
    """What a cell of the summary says, for energy distances over ``draws`` draws."""
    legend = (
        "Each cell is `ED / floor` / C2ST AUC. `ED / floor`: the energy distance "
        "between samples and held-out rows, "
        f"{'on one sample draw' if draws == 1 else f'averaged over {draws} draws'} "
        "(on the 2D sets, each draw against its own fresh held-out rows), "
        "divided by the floor's spread, the root mean square of the same "
        "statistic for true samples of the law in place of the model's (0 on "
        "average); about 1 or less cannot be told from fresh data."
    )
    if draws > 1:
        legend += (
            f" The floor averages {draws} fresh true draws too on the 2D sets; the "
            "tables are too small for that, and their floor, one held-out half "
            f"against the other, spreads more than a mean of {draws} draws: there "
            "the ratio is lenient."
        )
    return legend + (
        " C2ST AUC: a classifier's AUC at telling samples from held-out rows, 0.5 "
        "is best. The best other of ours is the variant with the lowest energy "
        "distance."
    )


def _summary_cells(rows, peers):
    """One dataset's cells: floor, default, best other of ours, then each peer."""
    ran = [
        rows[key]
        for key in NEURAL
        if key != "default" and key in rows and "error" not in rows[key]
    ]
    best = min(ran, key=lambda row: row["energy_distance"], default=None)
    cells = [_cell(rows["floor"]), _cell(rows.get("default")), _cell(best)]
    if best is not None:
        cells[-1] += f" ({best['label'].removeprefix('ours: ')})"
    return cells + [_cell(rows.get(key)) for key in peers]


def _checks(results):
    """The lines that check the default on each 2D set the report holds."""
    checked = [name for name in _CHECKED if name in results]
    if not checked:
        return []
    lines = [
        "",
        _wrap(
            "Checks on the 2D sets. Within 2x means `ED / floor` is at most 2: "
            "the default's energy distance is at most twice what true samples "
            "score in root mean square."
        ),
        "",
    ]
    return lines + [_wrap(_check(name, results[name]["rows"])) for name in checked]


def _wrap(text):
    # The README's prose is wrapped at 88 columns; a list item's lines indent.
    return textwrap.fill(
        text,
        88,
        subsequent_indent="  " if text.startswith("- ") else "",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _check(name, rows):
    """One line: is the default within 2x of the floor and at most each peer?"""
    default = rows.get("default")
    if default is None or "error" in default:
        return f"- {name}: the default did not run."
    ratio = default["energy_ratio_to_floor"]
    within = "within" if ratio <= 2 else "**not within**"
    line = f"- {name}: the default's `ED / floor` is {ratio:.2f}, {within} 2x; "
    peers = {
        row["label"]: row["energy_ratio_to_floor"]
        for key, row in rows.items()
        if key != "floor" and key not in NEURAL and "error" not in row
    }
    if not peers:
        return line + "no peer ran."
    above = [f"{label} at {r:.2f}" for label, r in peers.items() if r < ratio]
    if not above:
        return line + "at most every peer's."
    return line + "**above** " + " and ".join(above) + "."


_README_BLOCK = re.compile(
    r"(<!-- results:start.*?-->\n).*?(?=<!-- results:end -->)", re.DOTALL
)


def replace_readme_block(text, section):
    """``text`` with what lies between its results markers replaced by ``section``.

    Parameters
    ----------
    text : str
        The README, with one ``<!-- results:start ... -->`` line and one
        ``<!-- results:end -->`` marker after it.
    section : str
        The new block, ending with a newline.

    Returns
    -------
    text : str
        The README with the markers kept and blank lines around ``section``,
        so that markdown does not read it as part of the comments.
    """
    text, count = _README_BLOCK.subn(lambda match: f"{match[1]}\n{section}\n", text)
    if count != 1:
        raise ValueError(
            f"expected one results:start / results:end pair, found {count}"
        )
    return text


def write_readme(report, path):
    """Rewrite the results block of the README at ``path``."""
    path = pathlib.Path(path)
    path.write_text(replace_readme_block(path.read_text(), readme_section(report)))
    print(f"wrote the results block of {path}", flush=True)
