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
  novelty alone and explained as someone new to know, once: someone who was suggested people
  before gets no fallback in a later round (nothing new to say is better than filler).

## Each person's top k, no one flooded

Every person's candidates are scored and her best `TOP_CANDIDATES` kept; then all those directed
edges are taken in one global order (score, then ids) and accepted while the person has fewer than `k`
suggestions and the suggested person has been suggested to fewer than `cap` people this round. So
the popular few are not flooded. Whoever still has room after that (her best few were all popular and
capped) goes down the rest of her candidate list in a second pass, so she gets her next best.

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


def _window(items: list[int], seed: int, limit: int) -> list[int]:
    """At most `limit` items of `items`, a contiguous (wrapping) run starting at a place set by `seed`."""
    n = len(items)
    if n <= limit:
        return items
    start = (seed * _SPREAD) % n
    end = start + limit
    return items[start:end] if end <= n else items[start:] + items[: end - n]


def hash_key(key: str) -> int:
    """A stable small number for a tag (Python's hash() of a str changes between processes)."""
    h = 0
    for ch in key:
        h = (h * 31 + ord(ch)) % 1_000_003
    return h


_DIRECTION = [_direction(n) for n in range(64)]
_SHARED = [SHARED_EACH * min(n, SHARED_TAGS_COUNTED) for n in range(64)]


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

    Candidates come in three tiers from the tag index: people who could help her *and* whom she could
    help (an index by (offered tag, asked tag)), people on the other side of one of her tags, and
    peers on the same side. Scores are computed on bit masks of tags (one bit per tag), exactly; the
    windows (`per_tag_limit` and fractions of it) bound the work per person when a tag is common.
    """
    history = history or History()
    prepared = sorted((_prepare(p) for p in people), key=lambda x: x.person.id)
    keys = sorted({k_ for x in prepared for k_ in (*x.offer_keys, *x.ask_keys)})
    bit = {key: 1 << n for n, key in enumerate(keys)}
    seeds = {key: hash_key(key) for key in keys}
    offer_mask = [sum(bit[k_] for k_ in x.offer_keys) for x in prepared]
    ask_mask = [sum(bit[k_] for k_ in x.ask_keys) for x in prepared]
    companies = [x.company for x in prepared]
    ids = [x.person.id for x in prepared]

    offerers: dict[str, list[int]] = {}
    askers: dict[str, list[int]] = {}
    both_ways: dict[tuple[str, str], list[int]] = {}  # (offers, asks) -> people
    for i, x in enumerate(prepared):
        for key in sorted(x.offer_keys):
            offerers.setdefault(key, []).append(i)
            for ask in sorted(x.ask_keys):
                both_ways.setdefault((key, ask), []).append(i)
        for key in sorted(x.ask_keys):
            askers.setdefault(key, []).append(i)

    pair_limit = max(per_tag_limit // 6, 5)
    one_way_limit = max(per_tag_limit // 4, 5)
    peer_limit = max(per_tag_limit // 10, 3)
    excluded = bool(history.suggested or history.introduced)
    had_suggestions = {a for a, _ in history.suggested}

    def candidates_of(i: int) -> list[tuple[int, int, int]]:
        """(-score, other id, other index) of every candidate of person i with a reason."""
        a = prepared[i]
        pid = ids[i]
        a_off, a_ask, a_company = offer_mask[i], ask_mask[i], companies[i]
        candidates: set[int] = set()
        for want in a.ask_keys:
            for give in a.offer_keys:
                candidates.update(_window(both_ways.get((want, give), []), pid + seeds[want] * 7 + seeds[give], pair_limit))
        for want in a.ask_keys:
            candidates.update(_window(offerers.get(want, []), pid + seeds[want], one_way_limit))
        for give in a.offer_keys:
            candidates.update(_window(askers.get(give, []), pid + seeds[give] + 1, one_way_limit))
        for give in a.offer_keys:
            candidates.update(_window(offerers.get(give, []), pid + seeds[give] + 2, peer_limit))
        for want in a.ask_keys:
            candidates.update(_window(askers.get(want, []), pid + seeds[want] + 3, peer_limit))
        candidates.discard(i)
        scored: list[tuple[int, int, int]] = []
        related = False  # someone shares a tag with her (suggested before or not)
        for j in candidates:
            b_off, b_ask = offer_mask[j], ask_mask[j]
            score = (_DIRECTION[(b_off & a_ask).bit_count()] + _DIRECTION[(a_off & b_ask).bit_count()]
                     + _SHARED[((a_off & b_off) | (a_ask & b_ask)).bit_count()])
            if score == 0:
                continue
            related = True
            if excluded and history.excludes(pid, ids[j]):
                continue
            if not (a_company and a_company == companies[j]):
                score += NOVELTY
            scored.append((-score, ids[j], j))
        if not related and fallback and len(prepared) > 1 and pid not in had_suggestions:
            scored = [(-m.score, m.other, j) for j, m in _fallback(a, i, prepared, history)]
        return scored

    # Pass 1: everyone's best few, taken in one global order (best pairs first).
    edges: list[tuple[int, int, int, int]] = []  # (-score, person id, other id, other index)
    for i in range(len(prepared)):
        for neg, oid, j in heapq.nsmallest(TOP_CANDIDATES, candidates_of(i)):
            edges.append((neg, ids[i], oid, j))
    edges.sort()
    index_of = {pid: i for i, pid in enumerate(ids)}
    chosen: dict[int, list[tuple[int, int]]] = {}  # person id -> [(other id, other index)]
    received: dict[int, int] = {}

    def take(person: int, other: int, j: int) -> bool:
        mine = chosen.setdefault(person, [])
        if len(mine) >= k or received.get(other, 0) >= cap or any(o == other for o, _ in mine):
            return False
        mine.append((other, j))
        received[other] = received.get(other, 0) + 1
        return True

    for _, person, other, j in edges:
        take(person, other, j)
    # Pass 2: whoever still has room (her best few were all taken by the cap) looks further down her
    # whole candidate list, in id order.
    for i, pid in enumerate(ids):
        if len(chosen.get(pid, [])) >= k:
            continue
        for neg, oid, j in sorted(candidates_of(i)):
            if len(chosen.get(pid, [])) >= k:
                break
            take(pid, oid, j)

    given: dict[int, list[Match]] = {}
    for pid, picks in chosen.items():
        if not picks:
            continue
        a = prepared[index_of[pid]]
        matches = [_score(a, prepared[j], fallback=True) for _, j in picks]
        given[pid] = sorted(matches, key=lambda m: (-m.score, m.other))
    return given


def _fallback(a: _Prepared, i: int, prepared: list[_Prepared], history: History) -> list[tuple[int, Match]]:
    """People with no tag in common with anyone: a deterministic handful from other companies."""
    out = []
    n = len(prepared)
    start = (a.person.id * _SPREAD) % n
    others = [j for j in ((start + d) % n for d in range(min(FALLBACK_CANDIDATES + 1, n))) if j != i]
    for j in others[:FALLBACK_CANDIDATES]:
        b = prepared[j]
        if history.excludes(a.person.id, b.person.id):
            continue
        m = _score(a, b, fallback=True)
        if m.novelty:
            out.append((j, m))
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
