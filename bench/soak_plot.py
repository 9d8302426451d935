#!/usr/bin/env python3
"""Draws the soak benchmark's curves (examples/soak.rs writes the CSV) as one PNG with matplotlib:
resident memory, open files, live tasks, and room actors with WebSocket connections, against time.

    python3 -m venv target/plot && target/plot/bin/pip install matplotlib==3.10.8
    target/plot/bin/python bench/soak_plot.py bench/soak.csv docs/soak.png
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source, target):
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    minutes = [int(r["seconds"]) / 60 for r in rows]
    col = lambda name: [float(r[name]) for r in rows]  # noqa: E731
    figure, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    panels = [
        ("Resident memory (MiB)", [("RSS", [v / 1024 for v in col("rss_kib")])]),
        ("Open files", [("open files", col("open_files"))]),
        ("Live tasks", [("tasks", col("tasks"))]),
        ("Rooms and connections", [("room actors", col("room_actors")), ("WebSockets", col("ws_connections"))]),
    ]
    for axis, (title, series) in zip(axes, panels):
        for label, values in series:
            axis.plot(minutes, values, label=label)
        axis.set_title(title, fontsize=10)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        if len(series) > 1:
            axis.legend(fontsize=8)
    axes[-1].set_xlabel("minutes")
    figure.suptitle("Huddle soak: participants connecting, moving and leaving, rounds started and stopped")
    figure.tight_layout()
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
