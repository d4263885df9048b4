"""The application layer: what a job does, once, for every face (the CLI, the TUI, the demo).

The faces parse their input (flags, form fields), build a config and render events; they do not
decide how a scan is put together or when data is too broken to train on. Those decisions live
here, so ``cleanerclip scan`` and the TUI's scan pane load, default and trigger the same way, and
the TUI applies the same data checks as ``cleanerclip purify`` before a run.

Below this layer are the generic libraries (models, eval, attacks, engine, data, ...), which never
import it. Importing this package is cheap: torch and the toy world are imported inside functions.

* ``app.preflight``: a data set checked against a ``PurifyConfig`` before any model is loaded.
* ``app.triggers``: attack names, ``--param`` overrides and ``--trigger`` files to triggers.
* ``app.defaults``: what a model implies when the user leaves something out (eval data, the trigger
  settings its card records or the toy world's, and where they came from).
* ``app.scan``: ``ScanConfig`` and ``run_scan``, the one scan orchestration (``reference``: a clean
  floor scanned with the same triggers).
* ``app.poison``: what ``poison`` poisons with (the toy world's defaults on a toy-world folder).
* ``app.recent``: the model the last finished purify wrote (``scan`` without MODEL scans it).
"""

from __future__ import annotations

from cleanerclip_tool.app.defaults import default_eval_data, is_toy, trigger_defaults
from cleanerclip_tool.app.preflight import check_skipped, longest_run, preflight
from cleanerclip_tool.app.scan import ScanConfig, run_scan
from cleanerclip_tool.app.triggers import (
    artefact_params,
    build_triggers,
    parse_attacks,
    parse_params,
    require_artefacts,
)

__all__ = [
    "ScanConfig",
    "artefact_params",
    "build_triggers",
    "check_skipped",
    "default_eval_data",
    "is_toy",
    "longest_run",
    "parse_attacks",
    "parse_params",
    "preflight",
    "require_artefacts",
    "run_scan",
    "trigger_defaults",
]
