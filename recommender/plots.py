"""Charts for the workbench, drawn on the server as PNG (matplotlib, Agg): coverage of each
group's pushes by topic as a heat map, and a model version's figures against the active one.

Chinese labels are set in Noto Sans CJK SC, shipped by the ``mplfonts`` package (a dependency,
so a fresh virtual environment has it); Debian's ``fonts-noto-cjk`` is the fallback. Figures are
made with the object API (no pyplot state) and drawn one at a time, under a lock.
:func:`use_cjk_font` sets the same font for plain pyplot text (the notebooks).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import logging
import threading
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.patches import Patch, Rectangle

from recommender.records import MetricComparison, ModelComparison, PushReport
from recommender.service.reports import PLAN_TZ

__all__ = ["cjk_font", "comparison_chart", "coverage_heatmap", "use_cjk_font"]

log = logging.getLogger("pufa.plots")

_FONT_FILES = ("mplfonts:fonts/NotoSansCJKsc-Regular.otf",
               "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
               "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc")
_lock = threading.Lock()
_font: FontProperties | None = None

# Verdict colours: the version's bar against the active one's (grey).
_COLOURS = {"better": "#2e7d32", "worse": "#c62828", "same": "#1f77b4", "neutral": "#1f77b4", "missing": "#9e9e9e"}
_ACTIVE = "#b0b0b0"
_VERDICTS = {"better": "更好", "worse": "更差", "same": "持平", "neutral": "数量（不分好坏）", "missing": "另一版本无此指标"}


def _font_path() -> Path | None:
    for spec in _FONT_FILES:
        if spec.startswith("mplfonts:"):
            found = importlib.util.find_spec("mplfonts")  # located, not imported
            if found is None or not found.submodule_search_locations:
                continue
            path = Path(next(iter(found.submodule_search_locations))) / spec.split(":", 1)[1]
        else:
            path = Path(spec)
        if path.exists():
            return path
    return None


def cjk_font() -> FontProperties:
    """The font the charts' Chinese is set in (loaded once). Without one, matplotlib's default
    (Chinese then shows as boxes, and a warning says so)."""
    global _font
    if _font is None:
        path = _font_path()
        if path is None:
            log.warning("no CJK font found (install the mplfonts package): Chinese labels will show as boxes")
            _font = FontProperties()
        else:
            fontManager.addfont(str(path))
            _font = FontProperties(fname=str(path))
    return _font


def use_cjk_font() -> str:
    """Make plain pyplot text (notebooks) render Chinese: register the shipped Noto Sans CJK
    (:func:`cjk_font`) with matplotlib and put it first in ``font.sans-serif``; the family's
    name (``Noto Sans CJK SC``). Without a CJK font: matplotlib's default family, unchanged."""
    import matplotlib

    path = cjk_font().get_file()
    if not path or not Path(str(path)).exists():
        return str(matplotlib.rcParams["font.sans-serif"][0])
    name = FontProperties(fname=str(path)).get_name()
    rest = [f for f in matplotlib.rcParams["font.sans-serif"] if f != name]
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    matplotlib.rcParams["font.sans-serif"] = [name, *rest]
    matplotlib.rcParams["axes.unicode_minus"] = False  # the hyphen-minus: a glyph every font has
    return name


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _days(report: PushReport) -> str:
    """The period as Beijing dates, the end included (``report.end`` is exclusive)."""
    last = (report.end - dt.timedelta(microseconds=1)).astimezone(PLAN_TZ)
    return f"{report.start.astimezone(PLAN_TZ):%Y-%m-%d} 至 {last:%Y-%m-%d}"


def coverage_heatmap(report: PushReport, period: str | None = None) -> bytes:
    """Groups (rows) by topics (columns): the share of each group's pushes that carried the
    topic. A framed cell is one of the group's plan topics; the row label gives the number of
    pushes. Columns: plan topics (most weighted over all groups first), then other topics pushed.
    ``period``: what the title says of the period (default: its Beijing dates)."""
    with _lock:
        fp = cjk_font()
        weight: dict[str, float] = {}
        pushed: dict[str, int] = {}
        names: dict[str, str] = {}
        for g in report.groups:
            for t in g.topics:
                weight[t.topic] = weight.get(t.topic, 0.0) + t.plan_weight
                pushed[t.topic] = pushed.get(t.topic, 0) + t.pushes
                names[t.topic] = t.name
        cols = sorted(weight, key=lambda t: (weight[t] == 0, -weight[t] - pushed[t] * 1e-9, t))
        grid = np.zeros((len(report.groups), len(cols)))
        plan = np.zeros_like(grid, dtype=bool)
        for i, g in enumerate(report.groups):
            for t in g.topics:
                j = cols.index(t.topic)
                grid[i, j], plan[i, j] = t.share, t.plan_weight > 0
        fig = Figure(figsize=(max(7.0, 0.42 * len(cols) + 3.5), max(3.0, 0.45 * len(report.groups) + 2.4)), dpi=110)
        ax = fig.add_subplot()
        image = ax.imshow(grid, cmap="YlOrRd", vmin=0.0, vmax=max(float(grid.max()), 0.01), aspect="auto")
        for i, j in zip(*np.nonzero(plan), strict=True):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#1a237e", linewidth=1.4))
        for i, j in zip(*np.nonzero(grid >= 0.005), strict=True):
            ax.text(j, i, f"{grid[i, j]:.0%}", ha="center", va="center", fontsize=6.5,
                    color="white" if grid[i, j] > 0.6 * grid.max() else "black", fontproperties=fp)
        ax.set_xticks(range(len(cols)), [names[t] for t in cols], rotation=60, ha="right", fontproperties=fp,
                      fontsize=8)
        ax.set_yticks(range(len(report.groups)), [f"{g.name}（{g.pushes}次）" for g in report.groups],
                      fontproperties=fp, fontsize=8)
        ax.set_title(f"各人群推送内容的主题占比（{period or _days(report) + '，北京时间'}）\n方框为该人群的普法规划重点主题",
                     fontproperties=fp, fontsize=10)
        bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
        bar.set_label("占该人群推送条数的比例", fontproperties=fp)
        if not report.groups or not grid.any():
            ax.text(0.5, 0.5, "此期间没有推送记录", transform=ax.transAxes, ha="center", va="center", fontproperties=fp,
                    fontsize=14, color="#555555")
        fig.tight_layout()
        return _png(fig)


def comparison_chart(cmp: ModelComparison) -> bytes:
    """Left: each quality figure (classifier, answers, offline evaluation) of the version
    (green better, red worse, blue the same) beside the active version's (grey). Right, when
    the builds cross-validated the classifier: each topic's F1 difference."""
    with _lock:
        fp = cjk_font()
        head = [m for m in cmp.metrics if m.section in ("classifier", "answers", "evaluation")]
        topics = [m for m in cmp.metrics if m.section == "classifier_topics" and m.difference is not None]
        fig = Figure(figsize=(12.0 if topics else 8.0, max(3.2, 0.42 * max(len(head), len(topics) * 0.55) + 1.8)),
                     dpi=110)
        if topics:
            left, right = fig.subplots(1, 2, width_ratios=(1.4, 1))
            _figures_panel(left, head, cmp, fp)
            _topics_panel(right, topics, fp)
        else:
            _figures_panel(fig.add_subplot(), head, cmp, fp)
        title = (f"模型版本 {cmp.version} 与当前版本 {cmp.active_version} 的指标对比：更好 {cmp.better} 项，"
                 f"更差 {cmp.worse} 项" if cmp.active_version else f"模型版本 {cmp.version} 的指标（当前没有生效的版本）")
        if cmp.is_active:
            title = f"模型版本 {cmp.version} 的指标（即当前生效的版本）"
        fig.suptitle(title, fontproperties=fp, fontsize=11)
        fig.tight_layout()
        return _png(fig)


def _figures_panel(ax: Axes, rows: list[MetricComparison], cmp: ModelComparison, fp: FontProperties) -> None:
    if not rows:
        ax.text(0.5, 0.5, "两个版本都没有记录交叉验证或评估指标\n（构建时开启 evaluate）", transform=ax.transAxes,
                ha="center", va="center", fontproperties=fp, fontsize=11, color="#555555")
        ax.set_axis_off()
        return
    y = np.arange(len(rows))
    h = 0.38
    ax.barh(y - h / 2, [m.active or 0.0 for m in rows], h, color=_ACTIVE)
    bars = ax.barh(y + h / 2, [m.version or 0.0 for m in rows], h, color=[_COLOURS[m.verdict] for m in rows])
    for bar, m in zip(bars, rows, strict=True):
        if m.verdict == "missing":
            bar.set(facecolor="white", edgecolor=_COLOURS["missing"], hatch="//")
    for k, m in enumerate(rows):
        text = "无" if m.version is None else f"{m.version:.3f}"
        if m.difference is not None:
            text += f"（{m.difference:+.3f}）"
        ax.text((m.version or 0.0) + 0.01, k + h / 2, text, va="center", fontsize=7.5, fontproperties=fp)
    ax.set_yticks(y, [m.label for m in rows], fontproperties=fp, fontsize=8.5)
    ax.set_ylim(max(len(rows), 8) - 0.4, -0.7)  # top to bottom; a few figures keep slim bars
    ax.set_xlim(0, 1.18)
    ax.set_xlabel("数值（越大越好）", fontproperties=fp)
    shown = {m.verdict for m in rows}
    handles = [Patch(color=_ACTIVE, label=f"当前版本 {cmp.active_version}" if cmp.active_version else "当前无生效版本")]
    handles += [Patch(facecolor="white", edgecolor=_COLOURS[v], hatch="//", label=f"本版本：{_VERDICTS[v]}")
                if v == "missing" else Patch(color=_COLOURS[v], label=f"本版本：{_VERDICTS[v]}")
                for v in _VERDICTS if v in shown]
    ax.legend(handles=handles, prop=fp, loc="lower right")


def _topics_panel(ax: Axes, rows: list[MetricComparison], fp: FontProperties) -> None:
    y = np.arange(len(rows))
    diffs = [m.difference or 0.0 for m in rows]
    ax.barh(y, diffs, 0.7, color=[_COLOURS[m.verdict] for m in rows])
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [m.label.removesuffix(" F1") for m in rows], fontproperties=fp, fontsize=7)
    ax.invert_yaxis()
    span = max(0.05, max(abs(d) for d in diffs) * 1.15)
    ax.set_xlim(-span, span)
    ax.set_title("各主题分类F1的变化（本版本 − 当前版本）", fontproperties=fp, fontsize=9)
