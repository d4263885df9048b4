"""What every pane's worker threads share: event forwarding, cancelling, and the one error handler.

Workers are started with ``exit_on_error=False`` and catch nothing themselves: when one raises,
Textual marks it ERROR and ``WorkerPane.on_worker_state_changed`` turns that into a ``WorkFailed``
message for the pane (as harlequin does), so a failure is reported the same way from every pane
and never closes the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.worker import Worker, WorkerState, get_current_worker

from cleanerclip_tool.tui.messages import LibraryEvent, WorkFailed


class WorkCancelled(Exception):
    """Raised in a worker thread, at the library's next event, once the user cancelled the work.

    The library calls take no stop flag, but they report progress often: stopping there ends the
    thread (and frees the CPU) soon after Cancel instead of after the whole scan.
    """


def forward_events(node: Any, *, stop_on_cancel: bool = True) -> Callable[[Any], None]:
    """An ``on_event`` for the library, called in a worker thread: events go to ``node`` as messages.

    Once the worker is cancelled, events are dropped (a late one must not overwrite "cancelled" in
    the status line) and, with ``stop_on_cancel``, the library call is stopped at that event.
    """
    worker = get_current_worker()

    def emit(event: Any) -> None:
        if worker.is_cancelled:
            if stop_on_cancel:
                raise WorkCancelled
            return
        node.post_message(LibraryEvent(event))

    return emit


def still_wanted() -> bool:
    """False once the current worker was cancelled: check it between steps and before reporting."""
    return not get_current_worker().is_cancelled


class WorkerPane:
    """Mixin for panes: the one handler that turns a failed worker into ``WorkFailed``.

    ``Worker.StateChanged`` does not bubble, so each pane that starts workers inherits this handler.
    The worker's name says what failed ("resolve", "scan", ...).
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is WorkerState.ERROR and not isinstance(worker.error, WorkCancelled):
            self.post_message(WorkFailed(worker.name, worker.error))  # type: ignore[attr-defined]

    def cancel_workers(self, group: str) -> bool:
        """Cancel the running workers of ``group``; True when there was one."""
        running = [
            w
            for w in self.workers  # type: ignore[attr-defined]
            if w.node is self and w.group == group and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]
        for worker in running:
            worker.cancel()
        return bool(running)
