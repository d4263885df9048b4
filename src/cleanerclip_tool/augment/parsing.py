"""Captions to ``Slots`` with spaCy + SceneGraphParser, in this process or in a small process pool.

The cold path's cost is the parse (~1-2 ms of CPU per caption with ``en_core_web_sm``), so large
inputs are split over worker processes. Workers return ``Slots`` (small tuples), never spaCy Docs:
shipping Docs back would cost about as much as parsing them. A pool only pays above a size that
covers its start: forked workers inherit the loaded pipeline and start at once; spawned ones (macOS,
Windows, Python >= 3.14's forkserver default) import spaCy and load the model again, ~2 s. Inside a
daemonic process (a torch DataLoader worker) no pool is started: daemons cannot have children.
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cleanerclip_tool.augment import nlp as _nlp
from cleanerclip_tool.augment.positive import Slots, slots_from_doc

MAX_ERRORS = 20  # parse errors kept verbatim for the report; the rest are only counted
MAX_WORKERS = 4
# Distinct captions per worker below which a pool does not pay for its start.
MIN_PER_WORKER = {"fork": 1000, "spawn": 4000, "forkserver": 4000}
PROGRESS_EVERY = 1000


def parse_chunk(model: str, texts: Sequence[str], batch_size: int = 256) -> tuple[list[Slots | None], list[str]]:
    """Slots for each text (None: no usable noun, or the parser failed on it) and error messages.

    One BLAS thread: with several parsers, or beside a training run, more threads only contend.
    """
    from threadpoolctl import threadpool_limits

    nlp = _nlp.load_nlp(model)
    out: list[Slots | None] = []
    errors: list[str] = []
    with threadpool_limits(limits=1, user_api="blas"):
        for text, doc in zip(texts, _nlp.parse_docs(nlp, texts, batch_size), strict=True):
            try:
                out.append(slots_from_doc(doc, _nlp.scene_graph(doc)))
            except Exception as exc:  # a parser corner case must never stop a training run
                out.append(None)
                if len(errors) < MAX_ERRORS:
                    errors.append(f"{text[:80]!r}: {type(exc).__name__}: {exc}")
    return out, errors


def pool_size(n_texts: int, n_process: int | None = None) -> int:
    """How many worker processes to use for ``n_texts`` distinct captions (0: parse in this process).

    ``n_process`` None decides from the CPUs this process may use and the start method; an explicit
    value is honoured (capped by the number of texts) except inside a daemonic process.
    """
    if multiprocessing.current_process().daemon or n_texts < 2:
        return 0
    if n_process is not None:
        return n_process if n_process > 1 and n_texts >= n_process else 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    per_worker = MIN_PER_WORKER.get(multiprocessing.get_start_method(), 4000)
    workers = min(cpus, MAX_WORKERS, n_texts // per_worker)
    return workers if workers > 1 else 0


def parse_texts(
    model: str,
    texts: Sequence[str],
    *,
    batch_size: int = 256,
    n_process: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Slots | None], list[str]]:
    """Slots for every text, in order; ``progress(done)`` is called as chunks finish."""
    workers = pool_size(len(texts), n_process)
    with _frozen_heap():
        if workers:
            try:
                return _parse_in_pool(model, texts, workers, batch_size, progress)
            except (OSError, BrokenProcessPool) as exc:  # no processes to spare: parse here instead
                errors = [f"process pool unavailable ({type(exc).__name__}: {exc}); parsed in one process"]
                slots, more = _parse_here(model, texts, batch_size, progress)
                return slots, (errors + more)[:MAX_ERRORS]
        return _parse_here(model, texts, batch_size, progress)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now (spaCy's model, torch, the caller's data) out of collections.

    Parsing allocates enough to set off full collections, and each walks the whole heap, a
    few hundred thousand objects that parsing never frees: a tenth of a parse's time when it
    happens. In forked workers the walk also copies every page it touches. ``gc.freeze`` sets the
    heap aside (workers inherit that) and ``gc.unfreeze`` hands it back afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _parse_here(
    model: str, texts: Sequence[str], batch_size: int, progress: Callable[[int], None] | None
) -> tuple[list[Slots | None], list[str]]:
    out: list[Slots | None] = []
    errors: list[str] = []
    for start in range(0, len(texts), PROGRESS_EVERY):
        slots, errs = parse_chunk(model, texts[start : start + PROGRESS_EVERY], batch_size)
        out += slots
        errors += errs[: MAX_ERRORS - len(errors)]
        if progress is not None:
            progress(len(out))
    return out, errors


def _parse_in_pool(
    model: str, texts: Sequence[str], workers: int, batch_size: int, progress: Callable[[int], None] | None
) -> tuple[list[Slots | None], list[str]]:
    # Several chunks per worker keep them busy to the end and give progress along the way.
    size = max(batch_size, min(PROGRESS_EVERY * 2, math.ceil(len(texts) / (workers * 4))))
    chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
    out: list[Slots | None] = []
    errors: list[str] = []
    if multiprocessing.get_start_method() == "fork":
        _nlp.load_nlp(model)  # forked workers inherit it instead of each loading their own
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context()) as pool:
        for slots, errs in pool.map(parse_chunk, [model] * len(chunks), chunks, [batch_size] * len(chunks)):
            out += slots
            errors += errs[: MAX_ERRORS - len(errors)]
            if progress is not None:
                progress(len(out))
    return out, errors
