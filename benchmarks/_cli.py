"""What the benchmark scripts' command lines share: flags and thread limits."""

import argparse
import contextlib
import pathlib

import torch
from threadpoolctl import threadpool_limits

__all__ = ["limited_threads", "parser"]


@contextlib.contextmanager
def limited_threads(threads):
    """Run the body on ``threads`` threads of torch, BLAS and OpenMP."""
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(torch_threads)


def parser(description, subsets, results, threads_help):
    """``--quick``, one subset flag per ``{flag: names}``, ``--output``, ``--threads``.

    ``results`` names the files ``--output`` holds; ``threads_help`` is the
    help text of ``--threads``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    for flag, names in subsets.items():
        parser.add_argument(
            flag,
            nargs="+",
            choices=names,
            metavar="NAME",
            help=f"subset of {', '.join(names)}",
        )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        metavar="DIR",
        help=f"folder for {results} (see main)",
    )
    parser.add_argument("--threads", type=int, default=1, help=threads_help)
    return parser
