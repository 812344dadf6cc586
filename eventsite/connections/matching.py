"""Who should keep in touch with whom, and why: pure functions over plain data.

No database, no Flask: `suggest(people, history)` takes `Person`s and a `History` and returns, for
each person, her suggestions with their explanation. The services build the input from profiles;
tests build it by hand where the right answer is known.

## The score of "suggest B to A" (integers, so ties are exact and the result deterministic)

- **Help, both directions (most weight).** `B offers ∩ A asks` (B can help A) and `A offers ∩ B asks`
  (A can help B) are scored separately: a direction with at least one matching tag is worth
  `HELP_FIRST` (10), each further tag `HELP_MORE` (3), up to `HELP_TAGS_COUNTED` (3) tags, so 10, 13,
  16. Both directions count in full, so reciprocity is counted twice: a pair that helps both ways with
  one tag each (20) beats a pair that helps one way with any number of tags (16 at most).
- **Shared interests (capped).** Tags both offer, or both ask: `SHARED_EACH` (2) each, at most
  `SHARED_TAGS_COUNTED` (3): peers with the same questions are worth meeting, but less than help.
- **Novelty.** `NOVELTY` (3) when they do not work at the same company (weak ties across companies
  bring the new information; an unknown company counts as different).
- **Minus history.** A pair is never suggested again in the same direction (`History.suggested`),
  and never when one already asked the other and it lapsed, or an introduction exists
  (`History.introduced`), at this event or an earlier one of the same organization (the services map
  those by email). "Minus" is exclusion, not a penalty: the same name twice reads as spam.
- A suggestion needs a reason: help or a shared interest. People with no tag in common with anyone
  get the **fallback** (only when `fallback=True`): a few people from other companies, scored by
  novelty alone and explained as someone new to know.

## Each person's top k, no one flooded

Every person's candidates are scored and her best `TOP_CANDIDATES` kept; then all those directed
edges are taken in one global order (score, then ids) and accepted while the person has fewer than `k`
suggestions and the suggested person has been suggested to fewer than `cap` people this round. So
the popular few are not flooded, and whoever cannot have her first choice gets her next best.

## Scale (10,000 profiles)

No pair loop. People are indexed by tag (who offers it, who asks it); a person's candidates are the
people on the other side of her own tags (plus peers on the same side, for shared interests). When a
tag is very common, she sees a window of `per_tag_limit` people of that tag's list, starting at an
offset derived from her id, so the windows of different people cover the whole list and the result
is still deterministic. Windows only choose *candidates*; every kept candidate is scored exactly.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

HELP_FIRST = 10
HELP_MORE = 3
HELP_TAGS_COUNTED = 3
SHARED_EACH = 2
SHARED_TAGS_COUNTED = 3
NOVELTY = 3

DEFAULT_K = 3
DEFAULT_CAP = 5
DEFAULT_PER_TAG_LIMIT = 150
SHARED_PER_TAG_LIMIT = 40
TOP_CANDIDATES = 8
FALLBACK_CANDIDATES = 12
_SPREAD = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over a list


def tag_key(label: str) -> str:
    """Tags compare case- and space-insensitively ("Board governance" == "board  governance")."""
    return " ".join(str(label).split()).casefold()


def company_key(name: str) -> str:
    return " ".join(str(name or "").split()).casefold()


@dataclass(frozen=True)
class Person:
    """One consenting attendee, as the matching sees her. `offers`/`asks` are tag labels."""

    id: int
    name: str
    company: str = ""
    offers: tuple[str, ...] = ()
    asks: tuple[str, ...] = ()


@dataclass(frozen=True)
class History:
    """What already happened between people (ids are `Person.id`s).

    `suggested`: (to whom, whom) pairs already suggested, directed. `introduced`: pairs, either
    order, that must not be suggested: an introduction was asked for (lapsed, open or made).
    """

    suggested: frozenset[tuple[int, int]] = frozenset()
    introduced: frozenset[frozenset[int]] = frozenset()

    def excludes(self, a: int, b: int) -> bool:
        return (a, b) in self.suggested or frozenset((a, b)) in self.introduced


@dataclass(frozen=True)
class Match:
    """Suggest `other` to `person`, with what the score was made of (tag labels as the other wrote them,
    for `they_offer`, and as `person` wrote them, for `you_offer`)."""

    person: int
    other: int
    score: int
    they_offer: tuple[str, ...] = ()  # the other offers, she asks
    you_offer: tuple[str, ...] = ()  # she offers, the other asks
    shared: tuple[str, ...] = ()  # both offer or both ask
    novelty: bool = False
    fallback: bool = False

    @property
    def reciprocal(self) -> bool:
        return bool(self.they_offer and self.you_offer)


@dataclass
class _Prepared:
    person: Person
    offers: dict[str, str]  # key -> label
    asks: dict[str, str]
    company: str
    offer_keys: frozenset[str] = field(default_factory=frozenset)
    ask_keys: frozenset[str] = field(default_factory=frozenset)


def _prepare(p: Person) -> _Prepared:
    offers = {tag_key(t): t for t in p.offers if tag_key(t)}
    asks = {tag_key(t): t for t in p.asks if tag_key(t)}
    return _Prepared(p, offers, asks, company_key(p.company), frozenset(offers), frozenset(asks))


def _direction(n: int) -> int:
    if n <= 0:
        return 0
    return HELP_FIRST + HELP_MORE * (min(n, HELP_TAGS_COUNTED) - 1)


def _ordered(keys: Iterable[str], labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels[k] for k in sorted(keys))


def _score(a: _Prepared, b: _Prepared, *, fallback: bool = False) -> Match:
    """The exact score of suggesting b to a."""
    they = b.offer_keys & a.ask_keys
    you = a.offer_keys & b.ask_keys
    shared = (a.offer_keys & b.offer_keys) | (a.ask_keys & b.ask_keys)
    novelty = not (a.company and a.company == b.company)
    score = _direction(len(they)) + _direction(len(you))
    score += SHARED_EACH * min(len(shared), SHARED_TAGS_COUNTED)
    if score == 0 and not fallback:
        return Match(a.person.id, b.person.id, 0)
    score += NOVELTY if novelty else 0
    shared_labels = {**a.asks, **a.offers}
    return Match(
        a.person.id, b.person.id, score,
        they_offer=_ordered(they, b.offers),
        you_offer=_ordered(you, a.offers),
        shared=_ordered(shared, shared_labels),
        novelty=novelty,
        fallback=fallback and not (they or you or shared),
    )


def score_pair(a: Person, b: Person) -> Match:
    """The score of suggesting `b` to `a` (history not applied): for tests and explanations."""
    return _score(_prepare(a), _prepare(b))


def _window(items: list[int], start_seed: int, limit: int) -> Iterable[int]:
    n = len(items)
    if n <= limit:
        return items
    start = (start_seed * _SPREAD) % n
    end = start + limit
    return items[start:end] if end <= n else items[start:] + items[: end - n]


def suggest(
    people: Iterable[Person],
    history: History | None = None,
    *,
    k: int = DEFAULT_K,
    cap: int = DEFAULT_CAP,
    per_tag_limit: int = DEFAULT_PER_TAG_LIMIT,
    fallback: bool = True,
) -> dict[int, list[Match]]:
    """Each person's suggestions (at most `k`, best first); nobody suggested to more than `cap` people.

    Deterministic: the same input (in any order) gives the same output.
    """
    history = history or History()
    prepared = sorted((_prepare(p) for p in people), key=lambda x: x.person.id)
    offerers: dict[str, list[int]] = {}
    askers: dict[str, list[int]] = {}
    for i, x in enumerate(prepared):
        for key in x.offer_keys:
            offerers.setdefault(key, []).append(i)
        for key in x.ask_keys:
            askers.setdefault(key, []).append(i)

    shared_limit = min(per_tag_limit, SHARED_PER_TAG_LIMIT)
    edges: list[tuple[int, int, int, Match]] = []
    for i, a in enumerate(prepared):
        pid = a.person.id
        candidates: set[int] = set()
        for key in a.ask_keys:  # who can help her
            candidates.update(_window(offerers.get(key, []), pid + hash_key(key), per_tag_limit))
        for key in a.offer_keys:  # whom she can help
            candidates.update(_window(askers.get(key, []), pid + hash_key(key) + 1, per_tag_limit))
        for key in a.offer_keys:  # peers: both offer
            candidates.update(_window(offerers.get(key, []), pid + hash_key(key) + 2, shared_limit))
        for key in a.ask_keys:  # peers: both ask
            candidates.update(_window(askers.get(key, []), pid + hash_key(key) + 3, shared_limit))
        candidates.discard(i)
        scored = []
        for j in candidates:
            b = prepared[j]
            if history.excludes(pid, b.person.id):
                continue
            m = _score(a, b)
            if m.score > 0:
                scored.append(m)
        if not scored and fallback and len(prepared) > 1:
            scored = _fallback(a, i, prepared, history)
        for m in heapq.nsmallest(TOP_CANDIDATES, scored, key=lambda m: (-m.score, m.other)):
            edges.append((-m.score, m.person, m.other, m))

    edges.sort(key=lambda e: e[:3])
    given: dict[int, list[Match]] = {x.person.id: [] for x in prepared}
    received: dict[int, int] = {}
    for _, person, other, match in edges:
        if len(given[person]) >= k or received.get(other, 0) >= cap:
            continue
        given[person].append(match)
        received[other] = received.get(other, 0) + 1
    return {pid: matches for pid, matches in given.items() if matches}


def hash_key(key: str) -> int:
    """A stable small number for a tag (Python's hash() of a str changes between processes)."""
    h = 0
    for ch in key:
        h = (h * 31 + ord(ch)) % 1_000_003
    return h


def _fallback(a: _Prepared, i: int, prepared: list[_Prepared], history: History) -> list[Match]:
    """People with no tag in common with anyone: a deterministic handful from other companies."""
    out = []
    others = [j for j in _window(list(range(len(prepared))), a.person.id, FALLBACK_CANDIDATES + 1) if j != i]
    for j in others[:FALLBACK_CANDIDATES]:
        b = prepared[j]
        if history.excludes(a.person.id, b.person.id):
            continue
        m = _score(a, b, fallback=True)
        if m.novelty:
            out.append(m)
    return out


# --- explanations in plain words -----------------------------------------------------------------

def _inline(label: str) -> str:
    """A tag inside a sentence: "Negotiating a raise" -> "negotiating a raise"; "AI strategy" stays."""
    label = " ".join(label.split())
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def join_words(items: Iterable[str]) -> str:
    items = [_inline(i) for i in items]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def explain(match: Match, other_name: str, other_company: str = "") -> str:
    """Why `other_name` is suggested, addressed to the person the match is for.

    "Dana can help with negotiating a raise, which you are looking for; you could help Dana with
    board governance."
    """
    name = other_name.strip() or "This person"
    parts: list[str] = []
    if match.they_offer and match.you_offer:
        parts.append(f"{name} can help with {join_words(match.they_offer)}, which you are looking for; "
                     f"you could help {name} with {join_words(match.you_offer)}")
    elif match.they_offer:
        parts.append(f"{name} can help with {join_words(match.they_offer)}, which you are looking for")
    elif match.you_offer:
        parts.append(f"{name} is looking for {join_words(match.you_offer)}, which you could help with")
    if match.shared:
        if parts:
            parts.append(f"and you share an interest in {join_words(match.shared)}")
        else:
            parts.append(f"You and {name} share an interest in {join_words(match.shared)}")
    if not parts:
        where = f" at {other_company.strip()}" if other_company.strip() else ""
        parts.append(f"{name}{where} is someone new to know: a different company, a different view")
    text = parts[0] if len(parts) == 1 else parts[0] + ", " + parts[1]
    return text + "."
