"""MODEL-spec prefixes that name model folders by a short handle (``toy:clean``).

``load_model`` knows the generic forms itself (files, folders, ``hf-hub:``, ``local-dir:``,
``ARCH:tag``). A prefix such as ``toy:`` belongs to whoever ships those models, so the loader only
asks this registry "which folder is ``PREFIX:NAME``?" and never imports the owner. That keeps the
layers pointing one way: the toy world (or a third-party package) depends on the loader, not the
loader on it.

Three sources fill the registry, looked up in this order:

1. ``register_spec_prefix(prefix, resolver)`` at run time (a test, a script, a plugin's import);
2. the built-in table ``BUILTIN_SPEC_PREFIXES``: ``"module:function"`` strings, imported only when
   the prefix is first used, the way transformers maps model names to modules, so a library user's
   ``load_model("toy:clean")`` works without importing the toy world first and importing the
   loader stays cheap;
3. the entry-point group ``cleanerclip.model_specs`` (name = prefix, value = ``module:function``),
   for packages that add their own prefixes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path

from cleanerclip_tool.errors import BadInputError, ModelResolveError

#: A resolver takes the NAME after ``PREFIX:`` and returns the model folder (``load_model`` reads it).
SpecResolver = Callable[[str], Path]

#: Entry-point group third-party packages use to add prefixes.
ENTRY_POINT_GROUP = "cleanerclip.model_specs"

#: Prefixes shipped with cleanerclip: prefix -> "module:function", imported on first use.
BUILTIN_SPEC_PREFIXES: dict[str, str] = {
    "toy": "cleanerclip_tool.toyworld.registry:resolve_toy_model",
}

#: Prefixes the loader handles itself; a plugin cannot take them over.
RESERVED_PREFIXES = frozenset({"hf-hub", "local-dir"})

_registered: dict[str, SpecResolver] = {}


def register_spec_prefix(prefix: str, resolver: SpecResolver) -> None:
    """Make ``PREFIX:NAME`` specs resolve through ``resolver(NAME)``; a later call replaces an earlier one."""
    key = _normalise(prefix)
    if key in RESERVED_PREFIXES:
        raise BadInputError(f"the MODEL prefix {key!r} is built into the loader", where="register_spec_prefix")
    _registered[key] = resolver


def unregister_spec_prefix(prefix: str) -> None:
    """Forget a prefix added by ``register_spec_prefix`` (built-in and entry-point ones stay)."""
    _registered.pop(_normalise(prefix), None)


def known_prefixes() -> list[str]:
    """Every prefix the registry can resolve, sorted (entry points are listed without importing them)."""
    return sorted(set(_registered) | set(BUILTIN_SPEC_PREFIXES) | set(_entry_points()))


def split_spec(spec: str) -> tuple[str, str] | None:
    """``(prefix, name)`` when ``spec`` starts with a known prefix, else None (a generic form)."""
    prefix, sep, name = spec.partition(":")
    if not sep:
        return None
    if prefix in _registered or prefix in BUILTIN_SPEC_PREFIXES or prefix in _entry_points():
        return prefix, name
    return None


def resolve_spec(spec: str) -> tuple[str, Path] | None:
    """``(prefix, folder)`` for a ``PREFIX:NAME`` spec, or None when ``spec`` has no known prefix.

    A prefix whose provider cannot be imported (a trimmed installation) is a ``ModelResolveError``
    saying the models are not available, rather than "no such file".
    """
    split = split_spec(spec)
    if split is None:
        return None
    prefix, name = split
    return prefix, _resolver(prefix, spec)(name)


def _resolver(prefix: str, spec: str) -> SpecResolver:
    if prefix in _registered:
        return _registered[prefix]
    target = BUILTIN_SPEC_PREFIXES.get(prefix) or _entry_points().get(prefix)
    assert target is not None  # split_spec only returns known prefixes
    module_name, _, attr = target.partition(":")
    try:
        # Looked up on every use, not cached: importlib caches the module, and a test that patches
        # the function (or blocks the module) is seen at once.
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise ModelResolveError(f"{prefix} models are not available in this installation", where=spec) from None


@functools.cache
def _entry_points() -> dict[str, str]:
    """``{prefix: "module:function"}`` from installed packages' ``cleanerclip.model_specs`` entry points.

    Read once per process: scanning every installed distribution's metadata takes milliseconds,
    and ``load_model`` asks for every spec with a colon.
    """
    from importlib.metadata import entry_points

    try:
        found = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken distribution's metadata must not break loading every model
        return {}
    return {_normalise(ep.name): ep.value for ep in found if _normalise(ep.name) not in RESERVED_PREFIXES}


def _normalise(prefix: str) -> str:
    # Matching is exact (``TOY:x`` is not ``toy:x``, as before the registry); only a trailing colon
    # and surrounding blanks are forgiven when registering.
    return prefix.strip().removesuffix(":")


__all__ = [
    "BUILTIN_SPEC_PREFIXES",
    "ENTRY_POINT_GROUP",
    "SpecResolver",
    "known_prefixes",
    "register_spec_prefix",
    "resolve_spec",
    "split_spec",
    "unregister_spec_prefix",
]
