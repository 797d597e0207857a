"""Every Python code block of the README runs as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_code():
    assert BLOCKS, "README.md has no python code block"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_blocks_run_in_order(tmp_path, monkeypatch):
    # Blocks share one namespace, as in a reader's session, in a scratch folder
    # for the files they write.
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), namespace)


@pytest.mark.parametrize("name", ["FlowMatchingGenerator", "QuantileNoise"])
def test_api_signatures_match_the_defaults(name):
    import adaptnoise

    match = re.search(rf"^`{name}\((.*?)\)`", README.read_text(), flags=re.S | re.M)
    assert match, f"README.md lists no signature for {name}"
    # The signature is written as Python, so Python reads it back.
    listed = eval(f"dict({' '.join(match.group(1).split())})")
    assert listed == getattr(adaptnoise, name)().get_params(deep=False)


def test_every_gallery_figure_is_shown_and_exists():
    root = README.parent
    shown = set(
        re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+\.png)\)", README.read_text())
    )
    on_disk = {
        str(p.relative_to(root)) for p in (root / "docs" / "images").glob("*.png")
    }
    assert shown == on_disk
    # Each example script names the figure it writes, and that figure is shown.
    for script in (root / "examples").glob("*.py"):
        written = re.findall(r"docs/images/\w+\.png", script.read_text())
        assert written, f"{script.name} names no figure under docs/images"
        assert set(written) <= shown, f"{script.name}'s figure is not in README.md"
