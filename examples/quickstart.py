"""Quickstart: a synthetic copy of a real mixed-type table.

Fits :class:`adaptnoise.FlowMatchingGenerator` at its defaults on 70% of the
Palmer penguins table that ships with the package (categorical, float and
nullable-integer columns, with missing values), samples as many rows as it
was trained on, and compares them with the 30% held out, next to a peer: a
Gaussian mixture (components by BIC) on the one-hot encoding of
:class:`adaptnoise.tables.TableEncoder`. It prints, for both, each column's
shape error (Kolmogorov-Smirnov statistic for numbers, total variation for
categories, missing values counted as a value of their own), the two-sample
classifier AUC (0.5: held-out and synthetic rows cannot be told apart) and
the checks a table user cares about (dtypes, seen categories, integral
integers, values within the training range, missing shares); and saves
``docs/images/quickstart.png``: real against synthetic marginals, and bill
length against bill depth by species.

Run it with ``make demo`` (or ``python examples/quickstart.py``); pass
``--quick`` for a few-second smoke run with a short training budget.
"""

import argparse
import pathlib

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from adaptnoise import FlowMatchingGenerator
from adaptnoise.datasets import load_penguins
from adaptnoise.metrics import classifier_two_sample_auc
from adaptnoise.tables import TableEncoder

OUTPUT = pathlib.Path(__file__).parents[1] / "docs" / "images"


class OneHotMixture:
    """The peer: a Gaussian mixture on the standardised one-hot table."""

    def __init__(self, max_components=6, random_state=0):
        self.max_components = max_components
        self.random_state = random_state

    def fit(self, frame):
        self.encoder = TableEncoder(categorical_encoding="onehot").fit(frame)
        self.scaler = StandardScaler().fit(self.encoder.transform(frame))
        Z = self.scaler.transform(self.encoder.transform(frame))
        fits = [
            GaussianMixture(k, random_state=self.random_state).fit(Z)
            for k in range(1, self.max_components + 1)
        ]
        self.mixture = min(fits, key=lambda fit: fit.bic(Z))
        return self

    def sample(self, n_samples):
        Z, _ = self.mixture.sample(n_samples)
        rows = np.random.default_rng(self.random_state).permutation(n_samples)
        return self.encoder.inverse_transform(self.scaler.inverse_transform(Z[rows]))


def shape_errors(real, synthetic):
    """Per column: KS statistic of the numbers, or total variation of the levels.

    Missing values count as a level of their own, weighted by their share,
    so a model that drops or invents them is charged for it.
    """
    errors = {}
    for name in real.columns:
        a, b = real[name], synthetic[name]
        missing = abs(a.isna().mean() - b.isna().mean())
        if isinstance(a.dtype, pd.CategoricalDtype):
            shares = pd.concat(
                [
                    a.value_counts(normalize=True, dropna=False),
                    b.value_counts(normalize=True, dropna=False),
                ],
                axis=1,
            ).fillna(0.0)
            errors[name] = 0.5 * float(
                np.abs(shares.iloc[:, 0] - shares.iloc[:, 1]).sum()
            )
        else:
            observed = stats.ks_2samp(
                a.dropna().astype(float), b.dropna().astype(float)
            )
            errors[name] = missing + (1 - missing) * float(observed.statistic)
    return errors


def checks(synthetic, train):
    """What a table user checks first: dtypes, levels, integrality, ranges."""
    numeric = train.select_dtypes("number").columns
    categorical = train.select_dtypes("category").columns
    integers = [c for c in numeric if pd.api.types.is_integer_dtype(train[c])]
    return {
        "same columns and dtypes": synthetic.dtypes.equals(train.dtypes),
        "categories among the seen ones": all(
            set(synthetic[c].dropna()) <= set(train[c].dropna()) for c in categorical
        ),
        "integers integral": all(
            (synthetic[c].dropna() % 1 == 0).all() for c in integers
        ),
        "within the training range": all(
            synthetic[c].dropna().between(train[c].min(), train[c].max()).all()
            for c in numeric
        ),
    }


def report(name, synthetic, train, test, encoder):
    errors = shape_errors(test, synthetic)
    auc = classifier_two_sample_auc(
        encoder.transform(test), encoder.transform(synthetic.iloc[: len(test)])
    )
    print(f"\n{name}")
    print(
        "  shape error per column: "
        + ", ".join(f"{column} {100 * e:.1f}%" for column, e in errors.items())
    )
    print(
        f"  mean shape error {100 * np.mean(list(errors.values())):.1f}%, "
        f"two-sample classifier AUC {auc:.3f}"
    )
    for check, passed in checks(synthetic, train).items():
        print(f"  {check}: {passed}")
    print(
        "  missing shares, data -> synthetic: "
        + ", ".join(
            f"{c} {train[c].isna().mean():.3f} -> {synthetic[c].isna().mean():.3f}"
            for c in train.columns
            if train[c].isna().any()
        )
    )
    return {"shape_errors": errors, "c2st_auc": auc}


def plot(real, samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    styles = {
        "data": "black",
        **dict(zip(samples, ("tab:blue", "tab:orange"), strict=True)),
    }
    frames = {"data": real, **samples}
    for ax, column in zip(
        axes[0, :2], ("flipper_length_mm", "body_mass_g"), strict=True
    ):
        values = real[column].dropna().astype(float)
        bins = np.linspace(values.min(), values.max(), 25)
        for label, frame in frames.items():
            ax.hist(
                frame[column].dropna().astype(float),
                bins=bins,
                density=True,
                histtype="step",
                color=styles[label],
                label=label,
            )
        ax.set(title=column)
        ax.legend()
    pairs = [
        f"{s} / {i}"
        for s in real["species"].cat.categories
        for i in real["island"].cat.categories
    ]
    width = 0.8 / len(frames)
    for k, (label, frame) in enumerate(frames.items()):
        shares = (
            (frame["species"].astype(str) + " / " + frame["island"].astype(str))
            .value_counts(normalize=True)
            .reindex(pairs, fill_value=0.0)
        )
        axes[0, 2].bar(
            np.arange(len(pairs)) + k * width,
            shares,
            width,
            color=styles[label],
            label=label,
        )
    axes[0, 2].set_xticks(
        np.arange(len(pairs)) + 0.4, pairs, rotation=60, ha="right", fontsize=7
    )
    axes[0, 2].set(title="species / island shares")
    for ax, (label, frame) in zip(axes[1], frames.items(), strict=True):
        for species, group in frame.groupby("species", observed=True):
            ax.scatter(
                group["bill_length_mm"],
                group["bill_depth_mm"],
                s=6,
                alpha=0.6,
                label=species,
            )
        ax.set(
            title=f"{label}: bill length against depth",
            xlabel="bill_length_mm",
            ylabel="bill_depth_mm",
            xlim=(30, 62),
            ylim=(12, 23),
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"\nfigure saved to {path}")


def main(quick=False):
    penguins = load_penguins()
    train, test = train_test_split(penguins, test_size=0.3, random_state=0)
    print(f"Palmer penguins: {len(train)} training rows, {len(test)} held out")
    print(", ".join(f"{c} ({t})" for c, t in train.dtypes.astype(str).items()))
    model = FlowMatchingGenerator(
        max_iter=100 if quick else "auto", random_state=0
    ).fit(train)
    ours = model.sample(len(train), random_state=1)
    peer = OneHotMixture(random_state=0).fit(train).sample(len(train))
    encoder = TableEncoder(categorical_encoding="onehot").fit(penguins)
    results = {
        "adaptnoise FlowMatchingGenerator (defaults)": report(
            "adaptnoise FlowMatchingGenerator (defaults)", ours, train, test, encoder
        ),
        "GaussianMixture (BIC), one-hot": report(
            "GaussianMixture (BIC), one-hot", peer, train, test, encoder
        ),
    }
    print(
        f"\nheld-out mean log-likelihood of the generator: {model.score(test):.2f}"
        " nats a row"
    )
    print("first synthetic rows:")
    print(ours.head().to_string())
    plot(test, {"adaptnoise": ours, "GaussianMixture": peer}, OUTPUT / "quickstart.png")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short training budget")
    main(**vars(parser.parse_args()))
