"""What a wide table costs: fit, sample and score at 200 columns (issue 16).

``FlowMatchingGenerator`` at its defaults (``random_state=0``) is fitted to
5000 rows of a 200-column correlated Gaussian (``rho ** |i - j|``,
``rho = 0.8``), then draws 10000 samples and scores 1000 held-out rows with
the exact divergence, which takes one network pass per column and so grows
with the width, and again with Hutchinson's estimator (one pass whatever the
width), whose error against the exact score is reported. The held-out
log-likelihood is put beside the true density's and a ``GaussianMixture``'s
(full covariances, components by BIC) on the same rows, so that the seconds
come with what they bought.

Writes ``benchmarks/results/wide.json`` and ``wide.md``; ``--quick`` is a
smoke run on tiny data that writes nothing unless ``--output`` says where.
Torch and the BLAS pools run on ``--threads`` threads (default 2, issue 16's
setting).
"""

import warnings

import _cli
import _peers
from _report import machine
from _timing import RESULTS, correlated_gaussian, quick_model, timed, write_results

from adaptnoise import FlowMatchingGenerator

# For 5000 rows of one Gaussian BIC picks one component; candidates past 8
# full 200 x 200 covariances would only add fit time.
GMM_COMPONENTS = (1, 2, 4, 8)
SETTINGS = {
    "full": {
        "n_features": 200,
        "n_train": 5000,
        "n_sample": 10000,
        "n_score": 1000,
        "ours": {},
    },
    "quick": {
        "n_features": 12,
        "n_train": 300,
        "n_sample": 200,
        "n_score": 50,
        "ours": quick_model(),
    },
}


def measure(settings):
    """The figures of one run, as a dict."""
    n_features = settings["n_features"]
    X, law = correlated_gaussian(
        settings["n_train"] + settings["n_score"], n_features, random_state=0
    )
    train, held_out = X[: settings["n_train"]], X[settings["n_train"] :]
    model = FlowMatchingGenerator(random_state=0, **settings["ours"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fit_s = timed(model.fit, train)
    _, sample_s = timed(model.sample, settings["n_sample"], random_state=0)
    scores, score_s = timed(model.score_samples, held_out)
    model.set_params(divergence="hutchinson")
    estimates, hutchinson_s = timed(model.score_samples, held_out)
    error = estimates - scores
    gmm = _peers.GaussianMixtureBIC(n_components=GMM_COMPONENTS)
    _, gmm_fit_s = timed(gmm.fit, train)
    return {
        "n_features": n_features,
        "n_train": settings["n_train"],
        "n_sample": settings["n_sample"],
        "n_score": settings["n_score"],
        "steps": int(model.n_iter_),
        "fit_s": fit_s,
        "sample_s": sample_s,
        "score_s": score_s,
        "score_ms_per_row": 1000 * score_s / settings["n_score"],
        "hutchinson_score_s": hutchinson_s,
        "hutchinson_error_mean": float(error.mean()),
        "hutchinson_error_std": float(error.std()),
        "loglik": float(scores.mean()),
        "true_loglik": float(law.logpdf(held_out).mean()),
        "gmm_loglik": float(gmm.score_samples(held_out).mean()),
        "gmm_fit_s": gmm_fit_s,
    }


def markdown(report):
    """The README's lines for one run."""
    r, m = report["figures"], report["machine"]
    head = (
        f"Measured {m['date']} on {m['cpu_count']} CPUs ({m['platform']}), "
        f"{'GPU ' + m['gpu'] if m['gpu'] else 'no GPU'}, torch {m['torch']} on "
        f"{report['threads']} thread(s); {r['n_train']} x {r['n_features']} "
        f"correlated Gaussian, {r['steps']} training steps.\n\n"
    )
    table = (
        "| run at the defaults | seconds |\n| --- | ---: |\n"
        f"| fit ({r['n_train']} rows) | {r['fit_s']:.1f} |\n"
        f"| `sample({r['n_sample']})` | {r['sample_s']:.1f} |\n"
        f"| `score_samples`, {r['n_score']} rows | {r['score_s']:.1f} "
        f"({r['score_ms_per_row']:.0f} ms a row) |\n"
        "| `score_samples`, Hutchinson's estimator | "
        f"{r['hutchinson_score_s']:.1f} |\n"
        f"| GaussianMixture (BIC) fit | {r['gmm_fit_s']:.1f} |\n\n"
    )
    hutchinson = (
        "Hutchinson's estimate of a row's log-likelihood (one Rademacher probe "
        f"per row) errs by {r['hutchinson_error_mean']:+.2f} nats on average, "
        f"with a standard deviation of {r['hutchinson_error_std']:.2f} nats "
        "across rows.\n"
    )
    loglik = (
        f"Held-out log-likelihood per row: ours {r['loglik']:.2f}, "
        f"GaussianMixture {r['gmm_loglik']:.2f}, true density "
        f"{r['true_loglik']:.2f}.\n"
    )
    return head + table + loglik + hutchinson


def main(quick=False, output=None, threads=2):
    settings = SETTINGS["quick" if quick else "full"]
    with _cli.limited_threads(threads):
        figures = measure(settings)
    report = {"machine": machine(), "threads": threads, "figures": figures}
    if output is None and not quick:
        output = RESULTS
    if output is not None:
        write_results("wide", report, markdown(report), output)
    print(markdown(report), flush=True)
    return report


if __name__ == "__main__":
    args = _cli.parser(
        __doc__.splitlines()[0], {}, "wide.json and wide.md", "torch threads"
    )
    args.set_defaults(threads=2)
    main(**vars(args.parse_args()))
