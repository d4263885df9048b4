"""The loss terms over optimizer steps, one line per term (clip, inmodal, cfa, total ...)."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class LossChart(PlotextPlot):
    """Keeps the series itself and redraws on each step; plotext has no incremental API."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series: dict[str, list[tuple[int, float]]] = {}

    def on_mount(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.series = {}
        self.redraw()

    def add_step(self, step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            self.series.setdefault(name, []).append((step, float(value)))
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("loss terms")
        plt.xlabel("step")
        for name, points in self.series.items():
            plt.plot([p[0] for p in points], [p[1] for p in points], label=name)
        self.refresh()
