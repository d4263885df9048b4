"""A table-driven stand-in for spaCy's ``attribute_ruler``, producing the same POS, MORPH and LEMMA.

Why: on captions the ruler costs about as much as the dependency parser. It runs a general token
``Matcher`` over ~180 patterns, yet almost all of them look at one token only (its TAG, LOWER, DEP,
IS_SPACE). Such a pattern's outcome depends only on that tuple of values, so the merged attributes
can be computed once per distinct tuple and then set with one call per token.

Exactness: patterns apply in their rule order, later ones overriding earlier ones, exactly like the
ruler's sorted match list; every predicate is read before anything is set, as in the ruler (which
matches first and sets afterwards). Multi-token rules ("gon na", "let 's") are not tabled: a doc
holding a word that can start one is handed to the original ruler whole. When a model's ruler uses a
pattern feature not handled here, ``build`` returns None and the original ruler stays in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Token attributes a tabled pattern may test; all are fixed before the ruler runs.
_FEATURES: dict[str, Callable[[Any], Any]] = {
    "TAG": lambda t: t.tag_,
    "LOWER": lambda t: t.lower_,
    "ORTH": lambda t: t.text,
    "DEP": lambda t: t.dep_,
    "IS_SPACE": lambda t: t.is_space,
}
FACTORY = "cleanerclip_table_attribute_ruler"


def _predicate(value: Any) -> Callable[[Any], bool] | None:
    """A test for one pattern value (literal, ``{"IN": [...]}``, ``{"REGEX": ...}``), or None."""
    if isinstance(value, str | bool | int):
        return lambda v: v == value
    if isinstance(value, dict) and len(value) == 1:
        ((op, arg),) = value.items()
        if op == "IN":
            allowed = frozenset(arg)
            return lambda v: v in allowed
        if op == "NOT_IN":
            banned = frozenset(arg)
            return lambda v: v not in banned
        if op == "REGEX":
            rx = re.compile(arg)
            return lambda v: isinstance(v, str) and rx.search(v) is not None
    return None


def _trigger(pattern: list[dict]) -> list[tuple[str, str]] | None:
    """The smallest set of (feature, value) pairs one of which every match of ``pattern`` contains."""
    best: list[tuple[str, str]] | None = None
    for token in pattern:
        for feature in ("DEP", "LOWER"):
            values = _literal_values(token[feature]) if feature in token else None
            if values and (best is None or len(values) < len(best)):
                best = [(feature, v) for v in values]
    return best


def _literal_values(value: Any) -> list[str] | None:
    """The exact strings a LOWER/ORTH value can match, or None when it is not a finite set."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and set(value) == {"IN"}:
        return [v for v in value["IN"] if isinstance(v, str)]
    return None


class TableAttributeRuler:
    """Callable pipeline component equivalent to the ``AttributeRuler`` it was built from."""

    def __init__(
        self,
        ruler: Any,
        rules: list[tuple[tuple[tuple[str, Callable], ...], ...]],
        triggers: frozenset[tuple[str, str]],
    ) -> None:
        from spacy.tokens._retokenize import set_token_attrs

        self._set = set_token_attrs
        self.ruler = ruler
        self.attrs: list[dict] = list(ruler.attrs)
        self.rules = rules  # per rule: alternatives, each a tuple of (feature, test)
        # A doc holding one of these (feature, value) pairs may match a multi-token rule.
        self.trigger_lowers = frozenset(v for f, v in triggers if f == "LOWER")
        self.trigger_deps = frozenset(v for f, v in triggers if f == "DEP")
        self.features = tuple(sorted({f for alts in rules for alt in alts for f, _ in alt}))
        self._readers = tuple(_FEATURES[f] for f in self.features)
        # LOWER/ORTH values outside every pattern's literal set behave alike: key them as None.
        self._lexical: dict[str, frozenset[str] | None] = {}
        self._memo: dict[tuple, dict | None] = {}

    @classmethod
    def build(cls, ruler: Any) -> TableAttributeRuler | None:
        """The table version of ``ruler``, or None when one of its patterns cannot be tabled."""
        rules: list[tuple[tuple[tuple[str, Callable], ...], ...]] = []
        triggers: set[tuple[str, str]] = set()
        for index in range(len(ruler.attrs)):
            entry = ruler.matcher.get(str(index))
            if entry is None:
                return None
            alternatives: list[tuple[tuple[str, Callable], ...]] = []
            for pattern in entry[1]:
                if len(pattern) != 1:
                    trigger = _trigger(pattern)
                    if trigger is None:
                        return None  # cannot tell which docs need the full ruler
                    triggers.update(trigger)
                    continue
                tests: list[tuple[str, Callable]] = []
                for feature, value in pattern[0].items():
                    test = _predicate(value)
                    if feature not in _FEATURES or test is None:
                        return None
                    tests.append((feature, test))
                alternatives.append(tuple(tests))
            rules.append(tuple(alternatives))
        table = cls(ruler, rules, frozenset(triggers))
        for feature in ("LOWER", "ORTH"):
            if feature in table.features:
                table._lexical[feature] = table._literals(ruler, feature)
        return table

    @staticmethod
    def _literals(ruler: Any, feature: str) -> frozenset[str] | None:
        values: set[str] = set()
        for index in range(len(ruler.attrs)):
            for pattern in ruler.matcher.get(str(index))[1]:
                if len(pattern) == 1 and feature in pattern[0]:
                    literal = _literal_values(pattern[0][feature])
                    if literal is None:
                        return None  # a regex: every value must be keyed as it is
                    values.update(literal)
        return frozenset(values)

    def _merged(self, key: tuple) -> dict | None:
        """The attributes the rules set on a token whose feature values are ``key`` (rule order)."""
        values = dict(zip(self.features, key, strict=True))
        merged: dict = {}
        for index, alternatives in enumerate(self.rules):
            if any(all(test(values[f]) for f, test in alt) for alt in alternatives):
                merged.update(self.attrs[index])
        return merged or None

    def __call__(self, doc: Any) -> Any:
        lowers, deps = self.trigger_lowers, self.trigger_deps
        if any(t.lower_ in lowers or t.dep_ in deps for t in doc):
            return self.ruler(doc)
        readers, features, lexical, memo = self._readers, self.features, self._lexical, self._memo
        keyed = []
        for token in doc:
            key = []
            for feature, read in zip(features, readers, strict=True):
                value = read(token)
                known = lexical.get(feature, False)
                if known is not False and known is not None and value not in known:
                    value = None
                key.append(value)
            keyed.append((token, tuple(key)))
        for token, key in keyed:
            if key not in memo:
                memo[key] = self._merged(key)
            attrs = memo[key]
            if attrs:
                self._set(token, attrs)
        return doc

    def pipe(self, docs: Any, batch_size: int = 1000) -> Any:
        for doc in docs:
            yield self(doc)


def install(nlp: Any) -> bool:
    """Swap ``nlp``'s attribute_ruler for its table version when exact; True when swapped."""
    if "attribute_ruler" not in nlp.pipe_names:
        return False
    table = TableAttributeRuler.build(nlp.get_pipe("attribute_ruler"))
    if table is None:
        return False
    from spacy.language import Language

    if not Language.has_factory(FACTORY):
        Language.factory(FACTORY, func=_make_table)
    _PENDING.append(table)
    nlp.add_pipe(FACTORY, name="table_attribute_ruler", after="attribute_ruler")
    nlp.disable_pipe("attribute_ruler")
    return True


_PENDING: list[TableAttributeRuler] = []


def _make_table(nlp: Any, name: str) -> TableAttributeRuler:
    """spaCy factory: hands over the table that ``install`` just built for this pipeline."""
    return _PENDING.pop()
