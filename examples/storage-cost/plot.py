#!/usr/bin/python3
"""Plots the storage-cost experiment: stored bytes against the CPU it costs to write (left) and
to read back (right), one point per way of storing the samples.

    plot.py POINTS.TSV OUT.PNG LOGICAL_BYTES [ZSTD_4K_MS BOA_4K_MS]

POINTS.TSV (from run.sh): name, stored bytes, write CPU s, read CPU s, what the write CPU
includes. The optional latencies (median of a random 4 KiB read in a cold block) are printed in
the read panel. CPU axes are log scale in CPU seconds per GB of input (logical bytes), so that the
figures do not depend on the sample's size. Raw storage costs no CPU: it is a line, not a point.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

points_path, png_path, logical = sys.argv[1], sys.argv[2], int(sys.argv[3])
latency = sys.argv[4:6]
gb = logical / 1e9
rows = []
with open(points_path) as f:
    for name, stored, write_s, read_s, *_ in csv.reader(f, delimiter="\t"):
        rows.append((name, int(stored), float(write_s) / gb, float(read_s) / gb))
raw = [r for r in rows if r[0] == "raw"]
pts = [r for r in rows if r[0] != "raw"]


def number(v, _pos=None):
    """The one number format of the figure: thousands separators, no trailing zeros."""
    return f"{v:,.3f}".rstrip("0").rstrip(".") if v < 1 else f"{v:,.0f}"


def place_labels(ax, xs, ys, names, gap_px=15):
    """Labels to the right of their points; a label that would overlap one already placed (both
    its width and its height) moves up until it does not, and a thin line joins it to its
    point."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    from_px = ax.transData.inverted().transform
    px = [to_px((x, y)) for x, y in zip(xs, ys)]
    boxes = []  # (left, right, y) of labels placed, in pixels
    for i in sorted(range(len(px)), key=lambda i: px[i][1]):
        text = ax.text(0, 0, names[i], fontsize=9)
        width = text.get_window_extent(renderer).width
        text.remove()
        left, y = px[i][0] + 12, px[i][1]
        moved = True
        while moved:
            moved = False
            for bl, br, by in boxes:
                if left < br and bl < left + width and abs(y - by) < gap_px:
                    y = by + gap_px
                    moved = True
        boxes.append((left, left + width, y))
        tx, ty = from_px((left, y))
        ax.annotate(names[i], xy=(xs[i], ys[i]), xytext=(tx, ty), textcoords="data",
                    va="center", ha="left", fontsize=9,
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5")
                    if abs(y - px[i][1]) > 2 else None)


fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharey=True)
panels = [
    (axes[0], 2, "write: CPU s per GB to compress\n"
                 "(boafs after BOA: zstd stage + BOA encode + verification decode)"),
    (axes[1], 3, "read: CPU s per GB to decompress\n"
                 "(boafs: daemon CPU for cold reads of every file)"),
]
mb = lambda b: b / 1e6  # noqa: E731
for ax, col, label in panels:
    xs = [max(p[col], 1e-3) for p in pts]
    ys = [mb(p[1]) for p in pts]
    colours = ["tab:red" if p[0].startswith("boafs") else "tab:blue" for p in pts]
    ax.scatter(xs, ys, c=colours, s=36, zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 3, max(xs) * 30)
    ax.xaxis.set_major_formatter(FuncFormatter(number))
    ax.set_xlabel(label, fontsize=9)
    ax.grid(True, which="major", color="0.85", lw=0.6)
    if raw:
        ax.axhline(mb(raw[0][1]), color="0.6", ls="--", lw=0.8)
        ax.text(ax.get_xlim()[0] * 1.1, mb(raw[0][1]), " raw (uncompressed)", va="bottom",
                fontsize=8, color="0.4")
    ax.set_ylim(0, mb(max(r[1] for r in rows)) * 1.08)
axes[0].set_ylabel("stored MB (10^6 bytes)")
if len(latency) == 2:
    z, b = (float(v) for v in latency)
    axes[1].text(0.98, 0.05, f"random 4 KiB read of a cold block (median):\n"
                 f"zstd block {number(z)} ms, BOA block {number(b)} ms",
                 transform=axes[1].transAxes, ha="right", va="bottom", fontsize=9,
                 bbox=dict(boxstyle="round", fc="white", ec="0.7"))
axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.1f}"))
for ax, col, _ in panels:
    xs = [max(p[col], 1e-3) for p in pts]
    place_labels(ax, xs, [mb(p[1]) for p in pts], [p[0] for p in pts])
fig.suptitle(f"HEP samples ({logical / 1e6:.2f} MB): stored size against CPU; lower and to the "
             "left is cheaper (blue: a file at a time, red: boafs, 128 KiB blocks)", fontsize=10)
fig.tight_layout()
fig.savefig(png_path, dpi=110)
