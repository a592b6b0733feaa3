"""PNG plots of results (matplotlib, Agg canvas: no display, no pyplot global state).

Each function takes plain numbers and returns PNG bytes; `data_uri` turns them into an
``data:image/png;base64,...`` address that an HTML file can embed, so a report needs no server
and no files beside it.
"""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from numabench.util.units import format_size


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No "Software" text chunk: the same figure gives the same bytes across matplotlib versions' metadata.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,<png>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def heatmap_png(values: dict, rows: list[int], columns: list[int], *, title: str, unit: str,
                scale: float = 1.0) -> bytes:
    """A CPU node (rows) x memory node (columns) heatmap; cells are ``values[str(row)][str(col)] * scale``.

    Missing cells (None: forbidden or not measured) are left blank and marked "-".
    """
    import numpy as np

    grid = np.full((len(rows), len(columns)), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            v = values.get(str(r), {}).get(str(c))
            if v is not None:
                grid[i, j] = v * scale
    fig = Figure(figsize=(1.2 + 1.1 * len(columns), 1.0 + 0.8 * len(rows)))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(grid)
    image = ax.imshow(masked, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=unit)
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(rows)):
        for j in range(len(columns)):
            v = grid[i, j]
            text = "-" if np.isnan(v) else (f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}")
            color = "black" if not np.isnan(v) and v > middle else "white"
            ax.text(j, i, text, ha="center", va="center", color=color if not np.isnan(v) else "gray")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel("memory node")
    ax.set_ylabel("CPU node")
    ax.set_title(title)
    return _png(fig)


def latency_sweep_png(points: list[dict], *, title: str = "Latency vs buffer size") -> bytes:
    """Latency (ns) against buffer size on a log2 x axis; points are ``{size_bytes, latency_ns}``."""
    points = sorted(points, key=lambda p: p["size_bytes"])
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.plot([p["size_bytes"] for p in points], [p["latency_ns"] for p in points], marker="o")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_size(int(x)).replace(" ", "")))
    ax.set_xlabel("buffer size")
    ax.set_ylabel("latency (ns per load)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    return _png(fig)


def loaded_latency_png(points: list[dict], *, title: str = "Loaded latency") -> bytes:
    """Latency (ns) against injected bandwidth (GB/s); points are ``{inject_bandwidth_bytes_per_s, latency_ns,
    delay}``, joined in order of bandwidth (MLC's loaded-latency curve)."""
    points = sorted(points, key=lambda p: p["inject_bandwidth_bytes_per_s"])
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    xs = [p["inject_bandwidth_bytes_per_s"] / 1e9 for p in points]
    ys = [p["latency_ns"] for p in points]
    ax.plot(xs, ys, marker="o")
    for x, y, p in zip(xs, ys, points):
        ax.annotate(f"delay {p['delay']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("injected bandwidth (GB/s)")
    ax.set_ylabel("latency (ns per load)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return _png(fig)


def thread_sweep_png(curves: list[dict], *, title: str = "Bandwidth vs threads") -> bytes:
    """Bandwidth (GB/s, 1e9 bytes/s) against pinned threads, one line per curve; curves are
    ``{label, points: [{threads, bandwidth_bytes_per_s}]}``, each saturation point ringed."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for curve in curves:
        points = sorted(curve["points"], key=lambda p: p["threads"])
        xs = [p["threads"] for p in points]
        ys = [p["bandwidth_bytes_per_s"] / 1e9 for p in points]
        line = ax.plot(xs, ys, marker="o", label=curve["label"])[0]
        top = max(range(len(ys)), key=lambda i: (ys[i], -xs[i]))
        ax.plot([xs[top]], [ys[top]], marker="o", markersize=12, fillstyle="none", color=line.get_color())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("pinned threads")
    ax.set_ylabel("bandwidth (GB/s)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _png(fig)


def peak_bars_png(columns: dict, mixes: list[str], *, title: str = "Peak injection bandwidth") -> bytes:
    """Grouped bars: GB/s (1e9 bytes/s) per read/write mix (groups), one bar per column label
    (``{label: {mix: bytes_per_s}}``, e.g. "node 0->0"); a mix a column lacks has no bar."""
    import numpy as np

    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(columns))
    x = np.arange(len(mixes))
    for i, (label, values) in enumerate(columns.items()):
        heights = [values.get(m, np.nan) / 1e9 for m in mixes]
        ax.bar(x + i * width, heights, width, label=label)
    ax.set_xticks(x + width * (len(columns) - 1) / 2, mixes)
    ax.set_xlabel("read:write mix (bytes)")
    ax.set_ylabel("bandwidth (GB/s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _png(fig)


def c2c_heatmap_png(values: dict, cpus: list[int], *, title: str) -> bytes:
    """A CPU x CPU heatmap of cache-to-cache latency: rows the initiator, columns the responder,
    cells ``values[str(row)][str(col)]`` in ns. The diagonal and unmeasured pairs are blank; cells
    are labelled only while they stay readable (32 CPUs or fewer)."""
    import numpy as np

    n = len(cpus)
    grid = np.full((n, n), np.nan)
    for i, a in enumerate(cpus):
        for j, b in enumerate(cpus):
            v = values.get(str(a), {}).get(str(b))
            if v is not None and a != b:
                grid[i, j] = v
    side = min(14.0, 2.0 + 0.45 * n)
    fig = Figure(figsize=(side + 1.5, side))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="equal")
    fig.colorbar(image, ax=ax, label="ns (one-way)")
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    if n <= 32:
        for i in range(n):
            for j in range(n):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="black" if grid[i, j] > middle else "white")
    step = max(1, n // 32)
    ax.set_xticks(range(0, n, step), [str(c) for c in cpus[::step]])
    ax.set_yticks(range(0, n, step), [str(c) for c in cpus[::step]])
    ax.set_xlabel("responder CPU")
    ax.set_ylabel("initiator CPU")
    ax.set_title(title)
    return _png(fig)
