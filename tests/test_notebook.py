"""The analysts' notebooks run end to end (executed with nbclient, as CI does) and show their plots.

Every code cell tagged ``plot`` must leave at least one PNG in the executed notebook (inline
figures, not files), each notebook has at least three such cells, and no cell fails. The CJK
font the plots use comes from a package and renders Chinese without matplotlib's "missing from
font" warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MIN_PLOTS = 3
# Text each notebook's outputs must contain, beyond its plots (notebooks not named: plots only).
EXPECTED_TEXT: dict[str, list[str]] = {
    "02_coverage_and_campaigns.ipynb": ["plan-topic share", "must-know share", "must-know pushed/total",
                                        "中文字体： Noto Sans CJK"],
}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_and_shows_its_plots(path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, [f"{o.get('ename')}: {o.get('evalue')}" for o in errors]
    plots = [c for c in code if "plot" in c.get("metadata", {}).get("tags", [])]
    assert len(plots) >= MIN_PLOTS, f"{path.name}: {len(plots)} cells tagged 'plot', want at least {MIN_PLOTS}"
    for cell in plots:
        pngs = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert pngs, f"{path.name}: a cell tagged 'plot' shows no image:\n{cell.source[:300]}"
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in code for o in c.get("outputs", []))
    for expected in EXPECTED_TEXT.get(path.name, []):
        assert expected in text, f"{path.name}: its outputs lack {expected!r}"


def test_use_cjk_font_renders_chinese_in_plain_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recommender.plots import use_cjk_font

    with matplotlib.rc_context():
        family = use_cjk_font()
        assert family.startswith("Noto Sans CJK")
        assert matplotlib.rcParams["font.sans-serif"][0] == family
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig, ax = plt.subplots()
            ax.set_xlabel("农牧民")
            ax.set_title("各人群推送内容的主题占比")
            fig.canvas.draw()
            plt.close(fig)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
