"""The five panes of the flow: model → data → configure → run → scan."""

from cleanerclip_tool.tui.screens.configure import ConfigureScreen
from cleanerclip_tool.tui.screens.data import DataScreen
from cleanerclip_tool.tui.screens.model import ModelScreen
from cleanerclip_tool.tui.screens.run import RunScreen
from cleanerclip_tool.tui.screens.scan import ScanScreen

__all__ = ["ConfigureScreen", "DataScreen", "ModelScreen", "RunScreen", "ScanScreen"]
