"""Widgets the panes share."""

from cleanerclip_tool.tui.widgets.losschart import LossChart
from cleanerclip_tool.tui.widgets.modal import ConfirmQuit

__all__ = ["ConfirmQuit", "LossChart"]
