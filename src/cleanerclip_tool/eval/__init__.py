"""Zero-shot evaluation: eval sets, the zero-shot classifier, Top-k BA/ASR and the trigger scan.

Import the submodules (``eval.scan``, ``eval.metrics``, ...) directly; this package stays light so
``import cleanerclip_tool.eval`` does not load torch.
"""
