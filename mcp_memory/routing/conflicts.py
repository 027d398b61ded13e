"""Possible conflicts a cosine cannot see: a memory that restates a line with another value.

A sentence embedding barely moves when one value changes: "Sessions are valid 15 minutes" and
"Sessions are valid 60 minutes" sit as close as two paraphrases, and "Never mock the database"
is about as close to "Mock the database with SQLite" as to a rule on fixtures. So, besides the
cosine band of :mod:`routing`, the router compares a memory with the existing lines most similar
to it (see ``Thresholds.contradiction``), and :func:`contradiction` looks, in the text alone
(no model, no LLM), for the two saying different things about the same subject:

1. ``negation``: one side says not to do (or not to use) what the other affirms. "do not merge
   `main` into a feature branch" against "Merge main into the feature branch": the negated
   words' first word (the verb or the thing) and more than half of them appear un-negated on
   the other side (a word also counts as a part of an identifier there: `datetime` in
   `datetime.now`). Negators: not, no, never, avoid, without, -n't, "instead of", "rather
   than", and "over" in a clause that prefers ("Prefer `rg` over `grep`"); the negated words
   run to the end of the clause or to a connective ("without an index | unless a query is
   slow"). "not only" is not one; in "X is no longer used" (or not needed, ...) it is X.
2. ``number``: a number with the same neighbour on both sides (the content word before it, the
   one after it, or its unit's class: time, size, percent, port for ":8000" or "port 3000")
   and another value: "line length 100" / "a line length of 88", "valid 15 minutes" / "last
   24 hours" (time, size and percent alone count only when the texts share another word too,
   here "sessions").
3. ``value``: the same for a code span, an identifier (a digit, CamelCase, ALLCAPS, a path)
   or a capitalised name, of the same kind on both sides: "signed with RS256" / "signed with
   HS256", "the `admin` scope" / "the `staff` scope", "British English" / "American English".
4. ``swap``: one word replaced between the same two neighbours ("hashed with argon2id." /
   "hashed with bcrypt."), when one of the two is a name or value, or when the memory says
   nothing else the line does not ("I use fish as my shell" / "I use zsh as my shell").
5. ``opposite``: each side holds one word of a small list of opposites (short / long, enable /
   disable, required / optional, ...) that the other lacks.

What stays additive: a new value in a new slot ("Mailpit on :8025" next to "the API on
:8000": other neighbours), a new rule in the same section, a negation the line shares ("rather
than a merge" next to "do not merge"). Check 3 only compares values that are both negated or
both not ("do not edit `web/src/api/`" against "after editing `.env`" is no change; a number
under a negation is still a limit, "must not drop below 85%", so check 2 compares any two),
and skips a value new to the line only as a longer name (`admin_client` next to `client`); a
value the line mentions anywhere is not a change. A memory that says it adds ("also", "as
well", "in addition", a clause ending in "too" or "either") is checked for negation only:
"Coverage for the worker must not drop below 70% either" restates a rule for another subject,
not the line's number. bench/route.py measures what this holds and what it wrongly holds, on
labelled contradictions and additive memories next to a line, including batches written after
each version of these checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_TOKEN = re.compile(r"`[^`\n]+`|[^\s`;,!?()\[\]{}\"]+|[;,!?()\[\]{}]")
_BREAKS = frozenset(";,!?()[]{}")
_NUMERIC = re.compile(r":?(\d+(?:[.,]\d+)*)([a-z%]*)")
_IDENT = re.compile(r".*\d.*|.*[a-z][A-Z].*|[A-Z]{2,}s?|.+[_/.].+|/.+|.+/")

_STOP_TEXT = """a an the and or but if then than that this these those it its is are was were be
    been being am do does did done to of in on at by for with from into onto as so such too also
    very just only i me my we our you your he she they them their there here what which who
    whom when where why how all any each every some most more less much many can could should
    would will shall may might must have has had having nor up down out under again once about
    above below between through during via per etc like use uses used using e.g i.e eg ie
    over instead rather"""
STOPWORDS = frozenset(_STOP_TEXT.split())
NEGATORS = frozenset({"not", "no", "never", "avoid", "without", "cannot", "nothing", "none"})
# after a negator, only these: the negated thing comes before it ("X is no longer used")
_PREDICATES = (
    "used",
    "allowed",
    "needed",
    "required",
    "supported",
    "recommended",
    "necessary",
    "enabled",
    "ok",
    "okay",
    "fine",
    "longer",
    "permitted",
    "wanted",
    "available",
    "installed",
    "maintained",
)
_TIME_UNITS = """ms millisecond milliseconds s sec secs second seconds min mins minute minutes
    h hr hrs hour hours day days week weeks month months year years"""
_SIZE_UNITS = "b kb mb gb tb kib mib gib byte bytes"
UNITS = {
    **dict.fromkeys(_TIME_UNITS.split(), "time"),
    **dict.fromkeys(_SIZE_UNITS.split(), "size"),
    **dict.fromkeys(("%", "percent"), "percent"),
}
OPPOSITES = (
    ("short", "long"),
    ("brief", "detailed"),
    ("concise", "verbose"),
    ("short", "detailed"),
    ("enable", "disable"),
    ("sync", "async"),
    ("synchronous", "asynchronous"),
    ("allow", "forbid"),
    ("allow", "deny"),
    ("required", "optional"),
    ("mandatory", "optional"),
    ("public", "private"),
    ("single", "double"),
    ("tabs", "spaces"),
    ("uppercase", "lowercase"),
    ("ascending", "descending"),
    ("minimum", "maximum"),
    ("increase", "decrease"),
    ("include", "exclude"),
    ("manual", "automatic"),
    ("manually", "automatically"),
    ("absolute", "relative"),
    ("accept", "reject"),
    ("allowlist", "denylist"),
    ("whitelist", "blacklist"),
)
_ADDING = frozenset({"also", "additionally"})
_SCOPE_ENDS = frozenset(
    {
        "unless",
        "if",
        "when",
        "while",
        "because",
        "since",
        "until",
        "except",
        "so",
        "but",
        "which",
        "where",
        "whereas",
        "although",
        "though",
    }
)
_MEASURES = frozenset({"time", "size", "percent"})  # unit classes that may stand alone
_ADDING_PAIRS = (("as", "well"), ("in", "addition"))
_PARTS = re.compile(r"[^a-z0-9]+")
_VALUES = ("number", "code", "ident", "path", "name")
_CONTENT = ("word", *_VALUES)


@dataclass(frozen=True)
class Clash:
    """Why a memory and an existing line look like they disagree."""

    kind: str  # negation | number | value | swap | opposite
    memory: str  # the memory's side ("88"; for a negation, the negated words if the memory's)
    existing: str  # the line's side

    def describe(self) -> str:
        """For the plan's reason, e.g. "it says '88' where the line says '100'"."""
        if self.kind == "negation":
            return f"one says {self.memory or self.existing!r}, the other does it"
        return f"it says {self.memory!r} where the line says {self.existing!r}"


def contradiction(memory: str, line: str) -> Clash | None:
    """The first of the five checks (module docstring) that finds the memory and the line
    disagreeing, or None. Only meaningful for a line similar to the memory: the router asks
    about the most similar lines only."""
    a, b = _analyse(memory), _analyse(line)
    if a.adds:  # "also", "too", "as well": the memory says it adds to the line, not replaces
        return _negation(a, b)
    return _negation(a, b) or _slot(a, b) or _swap(a, b) or _opposite(a, b)


def content_tokens(text: str) -> list[tuple[str, str, str]]:
    """(as written, normalised, kind) for each content token of a text, in order: kind is
    word, name, number, code, ident or path; stop words, negators and punctuation left out.
    :mod:`additions` compares memories and lines with them."""
    return [
        (t.raw, t.norm, t.kind) for c in _analyse(text).clauses for t in c if t.kind in _CONTENT
    ]


def negates(memory: str, line: str) -> str | None:
    """A thing the memory says not to do or use that the line affirms, or None: the first
    word of one of its negated scopes, or a value in one ("without a feature/ prefix" against
    `feature/<ticket>-<slug>`). Weaker than the ``negation`` check (which wants most of the
    scope): :mod:`additions` uses it only to refuse calling such a memory an extension."""
    a, b = _analyse(memory), _analyse(line)
    kinds = {t.norm: t.kind for c in a.clauses for t in c}
    for scope, _ in a.negated:
        for n, word in enumerate(scope):
            if (n == 0 or kinds.get(word) in _VALUES) and _among(word, b.affirmed):
                return word
    return None


def numbers(text: str) -> set[str]:
    """The numbers in a text ("1,5" and "1.5" alike)."""
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def flat(text: str) -> str:
    """Lower case without punctuation: the same text, whatever its quoting."""
    return " ".join(re.sub(r"[`*_\"'.,;:!?()]", " ", text.lower()).split())


# -- analysis ----------------------------------------------------------------------------------


class _Tok(NamedTuple):
    raw: str
    norm: str
    kind: str  # word | number | code | ident | path | name | stop | neg | break
    unit: str = ""  # a number's unit class ("time"), from its suffix or the word after it


class _Slot(NamedTuple):
    norm: str
    kind: str  # number | code | ident | path | name
    keys: frozenset[tuple[str, str]]  # ("before" | "after" | "unit", word or unit class)
    raw: str
    negated: bool  # inside a negated scope ("do not edit `web/src/api/`")


@dataclass(frozen=True)
class _Text:
    clauses: tuple[tuple[_Tok, ...], ...]
    content: frozenset[str]  # every content token's norm
    affirmed: frozenset[str]  # content norms outside negated scopes
    negated: tuple[tuple[tuple[str, ...], str], ...]  # (content norms in order, as written)
    slots: tuple[_Slot, ...]
    words: frozenset[str]  # plain words and names, units left out: the shared subject
    stems: frozenset[str]  # every token's stem, stop words included: opposites
    raw_of: dict[str, str]  # stem -> the word as written
    adds: bool  # says "also", "as well", "in addition", or ends a clause with "too"/"either"


def stem(word: str) -> str:
    """A light stemmer: mocked / mocking / mocks -> mock, bodies -> body; a final e dropped
    so merge and merged meet."""
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)]
            break
    return w.rstrip("e") or w


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    start = True  # at the start of a clause: a capital there is not a name
    for raw in _TOKEN.findall(text):
        if raw in _BREAKS:
            out.append(_Tok(raw, "|", "break"))
            start = True
            continue
        if raw.startswith("`"):
            inner = raw.strip("`").strip().lower()
            norm = stem(inner) if inner.isalpha() else inner
            out.append(_Tok(raw, norm, "code"))
            start = False
            continue
        low_raw = raw.lower()
        ends = raw[-1] in ".:" and low_raw not in ("e.g.", "i.e.")
        core = raw.strip(".:'\u2019")
        if core.endswith(("'s", "\u2019s")):
            core = core[:-2]
        if core:
            out.append(_token(core, start))
            start = False
        if ends:
            out.append(_Tok(".", "|", "break"))
            start = True
    return out


def _token(core: str, start: bool) -> _Tok:
    low = core.lower()
    if low in NEGATORS or low.endswith("n't"):
        return _Tok(core, "not", "neg")
    number = _NUMERIC.fullmatch(low)
    if number:
        suffix = number.group(2)
        unit = "port" if low.startswith(":") else UNITS.get(suffix, suffix)  # ":8000"
        return _Tok(core, number.group(1).replace(",", "."), "number", unit)
    if _IDENT.fullmatch(core) and low not in ("e.g", "i.e"):
        return _Tok(core, low.strip("/"), "path" if "/" in core else "ident")
    if low in STOPWORDS or not any(c.isalnum() for c in low):
        return _Tok(core, low, "stop")
    if core[0].isupper() and not start:
        return _Tok(core, stem(low), "name")
    return _Tok(core, stem(low), "word")


def _clauses(tokens: list[_Tok]) -> list[tuple[_Tok, ...]]:
    out: list[tuple[_Tok, ...]] = []
    current: list[_Tok] = []
    for t in tokens:
        if t.kind == "break":
            if current:
                out.append(tuple(current))
            current = []
        else:
            current.append(t)
    if current:
        out.append(tuple(current))
    return out


_PREDICATE_STEMS = frozenset(stem(p) for p in _PREDICATES)


def _negation_at(clause: tuple[_Tok, ...]) -> int | None:
    """Where the clause's first negation starts (its scope is what follows), or None."""
    prefers = any(t.norm == "prefer" for t in clause)
    for j, t in enumerate(clause):
        nxt = clause[j + 1].norm if j + 1 < len(clause) else ""
        if t.kind == "neg" and nxt not in ("only", "just"):
            return j
        if (t.norm, nxt) in (("instead", "of"), ("rather", "than")):
            return j + 1
        if prefers and t.norm == "over":
            return j
    return None


def _slots(clause: tuple[_Tok, ...], negated: range) -> list[_Slot]:
    """Each value with its neighbours: the content word before it, the one after it, and for
    a number the class of its unit; ``negated`` holds the indices of the negated scope."""
    out = []
    for j, t in enumerate(clause):
        if t.kind not in _VALUES:
            continue
        keys: set[tuple[str, str]] = set()
        unit = t.unit if t.kind == "number" else ""
        for k in range(j - 1, -1, -1):
            if t.kind == "number" and clause[k].raw.lower() in ("port", "ports"):
                unit = "port"  # "on port 3000" is ":3000"
                continue
            if clause[k].kind in ("word", "name"):
                keys.add(("before", clause[k].norm))
                break
            if clause[k].kind != "stop":
                break
        for k in range(j + 1, len(clause)):
            n = clause[k]
            if t.kind == "number" and not unit and n.raw.lower() in UNITS:
                unit = UNITS[n.raw.lower()]
                continue
            if n.kind in ("word", "name"):
                keys.add(("after", n.norm))
                break
            if n.kind != "stop":
                break
        if unit:
            keys.add(("unit", unit))
        out.append(_Slot(t.norm, t.kind, frozenset(keys), t.raw, j in negated))
    return out


@lru_cache(maxsize=4096)
def _analyse(text: str) -> _Text:
    tokens = _tokens(text)
    clauses = _clauses(tokens)
    affirmed: set[str] = set()
    negated: list[tuple[tuple[str, ...], str]] = []
    slots: list[_Slot] = []
    adds = False
    for clause in clauses:
        low = [t.raw.lower() for t in clause]
        adds |= bool(_ADDING & set(low)) or low[-1] in ("too", "either")
        adds |= any(pair in zip(low, low[1:], strict=False) for pair in _ADDING_PAIRS)
        at = _negation_at(clause)
        if at is None:
            slots.extend(_slots(clause, range(0)))
            affirmed.update(t.norm for t in clause if t.kind in _CONTENT)
            continue
        # the scope ends at a connective: "without an index | unless a query is slow"
        end = next((k for k in range(at + 1, len(clause)) if low[k] in _SCOPE_ENDS), len(clause))
        before = [t.norm for t in clause[:at] if t.kind in _CONTENT]
        after = [t.norm for t in clause[at + 1 : end] if t.kind in _CONTENT]
        rest = [t.norm for t in clause[end:] if t.kind in _CONTENT]
        said = " ".join(t.raw for t in clause[:end])
        if not after or all(w in _PREDICATE_STEMS for w in after):
            slots.extend(_slots(clause, range(at)))
            if before:  # "LaunchDarkly is no longer used": LaunchDarkly is what is negated
                negated.append((tuple(before), said))
        else:
            slots.extend(_slots(clause, range(at + 1, end)))
            affirmed.update(before)
            negated.append((tuple(after), said))
        affirmed.update(rest)
    content = frozenset(t.norm for t in tokens if t.kind in _CONTENT)
    words = frozenset(
        t.norm for t in tokens if t.kind in ("word", "name") and t.raw.lower() not in UNITS
    )
    raw_of = {stem(t.raw.strip("`")): t.raw for t in tokens if t.kind != "break"}
    return _Text(
        tuple(clauses),
        content,
        frozenset(affirmed),
        tuple(negated),
        tuple(slots),
        words,
        frozenset(raw_of),
        raw_of,
        adds,
    )


# -- the five checks ---------------------------------------------------------------------------


def _negation(a: _Text, b: _Text) -> Clash | None:
    for scopes, other, mine in ((a.negated, b.affirmed, True), (b.negated, a.affirmed, False)):
        for scope, said in scopes:
            hits = [w for w in scope if _among(w, other)]
            if _among(scope[0], other) and 2 * len(hits) > len(scope):
                return Clash("negation", said if mine else "", "" if mine else said)
    return None


def _slot(a: _Text, b: _Text) -> Clash | None:
    mine = {s.norm for s in a.slots}
    shared_words = a.words & b.words
    for s in a.slots:
        if s.norm in b.content:
            continue  # the line mentions it: not a changed value
        for o in b.slots:
            if s.kind != o.kind or o.norm == s.norm or o.norm in mine:
                continue
            if s.kind != "number" and s.negated != o.negated:
                continue  # "do not edit `web/src/api/`" and "after editing `.env`" agree
            if s.kind != "number" and _extends(s.norm, o.norm):
                continue  # `admin_client` next to `client`: another thing, not another value
            shared = s.keys & o.keys
            measure = any(side == "unit" and w in _MEASURES for side, w in shared)
            if not any(side != "unit" for side, _ in shared) and not (measure and shared_words):
                continue  # a unit class alone needs another shared word: the same subject
            return Clash("number" if s.kind == "number" else "value", s.raw, o.raw)
    return None


def _among(word: str, words: frozenset[str]) -> bool:
    """The word, or one that is a part of it or it of (`datetime` / `datetime.now`)."""
    return word in words or any(_extends(word, w) for w in words)


def _extends(a: str, b: str) -> bool:
    """One value is a part of the other (admin_client / client, v2-beta / v2)."""
    return b in _parts(a) or a in _parts(b)


def _parts(value: str) -> set[str]:
    parts = [p for p in _PARTS.split(value) if p]
    return {*parts, *(stem(p) for p in parts)} if len(parts) > 1 else set()


def _sequence(t: _Text) -> list[tuple[str, _Tok, str]]:
    """(the content word before, the token, the one after) for every content token; "|" marks
    a clause edge, "not" a negator."""
    out = []
    for clause in t.clauses:
        kept = [x for x in clause if x.kind in _CONTENT or x.kind == "neg"]
        norms = ["|", *(x.norm for x in kept), "|"]
        for i, x in enumerate(kept, start=1):
            if x.kind != "neg":
                out.append((norms[i - 1], x, norms[i + 1]))
    return out


def _swap(a: _Text, b: _Text) -> Clash | None:
    theirs = _sequence(b)
    for before, word, after in _sequence(a):
        if word.norm in b.content:
            continue
        for b_before, other, b_after in theirs:
            if (before, after) != (b_before, b_after) or other.norm in a.content:
                continue
            real = (before != "|") + (after != "|")  # neighbours that are words, not edges
            valued = word.kind in _VALUES or other.kind in _VALUES
            nothing_else = a.content - {word.norm} <= b.content
            if (real == 2 and valued) or (real and nothing_else):
                return Clash("swap", word.raw, other.raw)
    return None


_OPPOSITE: dict[str, set[str]] = {}
for _x, _y in OPPOSITES:
    _OPPOSITE.setdefault(stem(_x), set()).add(stem(_y))
    _OPPOSITE.setdefault(stem(_y), set()).add(stem(_x))


def _opposite(a: _Text, b: _Text) -> Clash | None:
    for word in sorted(a.stems - b.stems):
        for other in sorted(_OPPOSITE.get(word, ())):
            if other in b.stems and other not in a.stems:
                return Clash("opposite", a.raw_of[word], b.raw_of[other])
    return None
