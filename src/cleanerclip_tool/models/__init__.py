"""Model I/O: resolve a MODEL spec to an open_clip model safely, and save it back."""
