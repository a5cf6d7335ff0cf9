"""Boilerplate articles: the rules of ``taxonomy/boilerplate.yaml`` applied to items.

An article that only says when its law takes effect, who interprets it, what it repeals or
who writes its implementing rules, a deleted article ("（删除）") and an empty or heading-like
stub are *boilerplate*: stored with ``Item.boilerplate`` set, never pushed in feeds, still
found by search and by the answer path. The rules are data; this module reads them once and
says which rule, if any, an item matches. How a text is matched is described at the top of
the YAML file.

The store sets the flag on every write (:func:`flag_boilerplate`): an item whose data sets
``boilerplate`` explicitly (an editor's JSON or CSV, an item read back from the store) keeps
that value; any other item gets the rules' verdict.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from corpus.schema import Item

__all__ = [
    "BOILERPLATE_TYPES",
    "RULES_PATH",
    "BoilerplateRule",
    "BoilerplateRulesError",
    "boilerplate_rule",
    "flag_boilerplate",
    "fold",
    "is_boilerplate",
    "load_rules",
    "rule_for_text",
    "sentences",
    "stored_boilerplate",
]

RULES_PATH = Path(__file__).parent / "taxonomy" / "boilerplate.yaml"
# Only articles can be boilerplate: a whole law, a case or an explainer never is.
BOILERPLATE_TYPES: frozenset[str] = frozenset({"law_article", "interpretation"})

_FRAGMENT = re.compile(r"\{([A-Z_]+)\}")
_ASCII_PUNCT = str.maketrans({"(": "（", ")": "）", ":": "：", ";": "；", ",": "，", "!": "！", "?": "？"})
_INVISIBLE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")
_SENTENCE_END = re.compile(r"(?<=[。；！？])|\n")
_EDGE_PUNCT = "。；！？，、…."
# 第七十八条 / 第一百二十条之一 / 第12条 at the start of a body (items posted with their label).
_LABEL = re.compile(r"^[第笫]\s?[零〇○一二三四五六七八九十百千万两\d]+\s?条(?:之[一二三四五六七八九十]+)?(?=[\s:：（(]|$)[\s:：]*")


class BoilerplateRulesError(ValueError):
    """``boilerplate.yaml`` is malformed; the message names the rule and the problem."""


@dataclass(frozen=True)
class BoilerplateRule:
    """One kind of boilerplate: its id, its Chinese description and its compiled patterns."""

    id: str
    description: str
    patterns: tuple[re.Pattern[str], ...]
    max_chars: int
    whole: bool = False

    def matches(self, sentence: str) -> bool:
        return any(p.fullmatch(sentence) for p in self.patterns)


def _expand(pattern: str, fragments: dict[str, str], where: str) -> str:
    """Insert ``{NAME}`` fragments (fragments may use earlier ones)."""
    for _ in range(10):
        expanded = _FRAGMENT.sub(lambda m: _fragment(m.group(1), fragments, where), pattern)
        if expanded == pattern:
            return expanded
        pattern = expanded
    raise BoilerplateRulesError(f"{where}: fragments nest too deeply")


def _fragment(name: str, fragments: dict[str, str], where: str) -> str:
    if name not in fragments:
        raise BoilerplateRulesError(f"{where}: unknown fragment {{{name}}}")
    return f"(?:{fragments[name]})"


def _parse_rules(data: Any, path: Path) -> tuple[BoilerplateRule, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise BoilerplateRulesError(f"{path}: expected a mapping with a 'rules' list")
    fragments = {str(k): str(v) for k, v in (data.get("fragments") or {}).items()}
    rules: list[BoilerplateRule] = []
    for k, entry in enumerate(data["rules"]):
        where = f"{path.name}: rule {entry.get('id', k) if isinstance(entry, dict) else k}"
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("description"):
            raise BoilerplateRulesError(f"{where}: needs an id and a description")
        raw = entry.get("patterns")
        if not isinstance(raw, list) or not raw:
            raise BoilerplateRulesError(f"{where}: needs a non-empty 'patterns' list")
        try:
            patterns = tuple(re.compile(_expand(str(p or ""), fragments, where)) for p in raw)
        except re.error as exc:
            raise BoilerplateRulesError(f"{where}: bad regular expression ({exc})") from exc
        max_chars = entry.get("max_chars")
        if not isinstance(max_chars, int) or max_chars < 0:
            raise BoilerplateRulesError(f"{where}: max_chars must be a non-negative integer")
        if any(r.id == entry["id"] for r in rules):
            raise BoilerplateRulesError(f"{where}: duplicate id")
        rules.append(BoilerplateRule(str(entry["id"]), str(entry["description"]), patterns,
                                     max_chars, bool(entry.get("whole", False))))
    return tuple(rules)


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> tuple[BoilerplateRule, ...]:
    """The rules of ``path``, in file order (the order decides which id an article gets).

    Read and compiled once per path; raises :class:`BoilerplateRulesError` when the file is
    malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BoilerplateRulesError(f"{path}: cannot read ({exc})") from exc
    return _parse_rules(data, path)


def fold(text: str, label: str | None = None) -> str:
    """The text as the rules read it: no article label, NFKC, Chinese punctuation."""
    text = unicodedata.normalize("NFKC", text).translate(_ASCII_PUNCT).strip()
    if label and text.startswith(label):
        text = text[len(label):].lstrip(" \t\u3000:：")
    else:
        text = _LABEL.sub("", text, count=1)
    return text


def sentences(folded: str) -> list[str]:
    """The sentences of a folded text: split at 。；！？ and line ends, whitespace dropped,
    punctuation at both ends dropped, empty ones left out."""
    out = []
    for part in _SENTENCE_END.split(folded):
        s = _INVISIBLE.sub("", part or "").strip(_EDGE_PUNCT)
        if s:
            out.append(s)
    return out


def rule_for_text(text: str, *, label: str | None = None,
                  rules: tuple[BoilerplateRule, ...] | None = None) -> str | None:
    """The id of the rule a whole article text (label optional) matches, or None."""
    rules = load_rules() if rules is None else rules
    folded = fold(text, label)
    flat = _INVISIBLE.sub("", folded)
    length = len(flat)
    if not rules or length > max(r.max_chars for r in rules):
        return None  # longer than any rule allows: no need to read it
    whole = flat.strip(_EDGE_PUNCT)
    for rule in rules:
        if rule.whole and length <= rule.max_chars and rule.matches(whole):
            return rule.id
    parts = sentences(folded)
    if not parts:
        return None
    used: list[BoilerplateRule] = []
    for s in parts:
        found = next((r for r in rules if not r.whole and r.matches(s)), None)
        if found is None:
            return None
        used.append(found)
    if length > max(r.max_chars for r in used):
        return None
    first = min(rules.index(r) for r in used)
    return rules[first].id


def boilerplate_rule(item: Item) -> str | None:
    """The id of the rule ``item`` matches (None: not boilerplate, or not an article)."""
    if item.type not in BOILERPLATE_TYPES:
        return None
    return rule_for_text(item.body, label=item.article_label)


def is_boilerplate(item: Item) -> bool:
    """Whether the rules call ``item`` boilerplate (whatever its stored flag says)."""
    return boilerplate_rule(item) is not None


def stored_boilerplate(item: Item) -> bool:
    """The item's flag when its data sets one, else the rules' verdict (items stored before
    the flag existed carry no ``boilerplate`` key)."""
    if "boilerplate" in item.model_fields_set:
        return item.boilerplate
    return is_boilerplate(item)


def flag_boilerplate(item: Item) -> Item:
    """``item`` with ``boilerplate`` set: kept when its data set it, else from the rules.

    The copy records the flag as set, so writing it again (a status change) keeps it."""
    if "boilerplate" in item.model_fields_set:
        return item
    return item.model_copy(update={"boilerplate": is_boilerplate(item)})
