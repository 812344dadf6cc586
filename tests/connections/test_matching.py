"""The matching on constructed cases where the right answer is known (pure functions, no database)."""
from __future__ import annotations

import random

from eventsite.connections.matching import (
    HELP_FIRST,
    NOVELTY,
    History,
    Person,
    explain,
    score_pair,
    suggest,
)


def P(pid, name=None, company="", offers=(), asks=()):
    return Person(pid, name or f"Person {pid}", company, tuple(offers), tuple(asks))


def ids(matches):
    return [m.other for m in matches]


def test_reciprocity_beats_one_way_even_with_more_tags():
    ada = P(1, "Ada", offers=["Board governance"], asks=["Negotiating a raise"])
    # Dana helps Ada and Ada helps Dana: one tag each way.
    dana = P(2, "Dana", offers=["Negotiating a raise"], asks=["Board governance"])
    # Erin helps Ada on three tags Ada asks for, but wants nothing Ada offers.
    erin = P(3, "Erin", offers=["Negotiating a raise", "Hiring", "Fundraising"], asks=["Gardening"])
    ada_more = P(1, "Ada", offers=["Board governance"], asks=["Negotiating a raise", "Hiring", "Fundraising"])
    assert score_pair(ada_more, dana).score > score_pair(ada_more, erin).score
    result = suggest([ada_more, dana, erin], k=1)
    assert ids(result[1]) == [2]
    assert result[1][0].reciprocal and result[1][0].they_offer == ("Negotiating a raise",)
    # Reciprocity counts twice: exactly two directions of help, plus novelty.
    assert score_pair(ada, dana).score == 2 * HELP_FIRST + NOVELTY


def test_help_beats_shared_interest_and_shared_interest_is_capped():
    me = P(1, offers=["A", "B", "C", "D", "E"], asks=["X"])
    helper = P(2, offers=["X"])  # helps me with X, one way
    peer = P(3, offers=["A", "B", "C", "D", "E"])  # five tags in common, no help either way
    assert score_pair(me, helper).score > score_pair(me, peer).score
    # capped: five shared tags score like three
    three = P(4, offers=["A", "B", "C"])
    assert score_pair(me, peer).score == score_pair(me, three).score


def test_novelty_prefers_another_company():
    me = P(1, company="Acme", asks=["Hiring"])
    colleague = P(2, company=" acme ", offers=["Hiring"])
    stranger = P(3, company="Globex", offers=["Hiring"])
    assert score_pair(me, stranger).score == score_pair(me, colleague).score + NOVELTY
    assert ids(suggest([me, colleague, stranger], k=1)[1]) == [3]


def test_each_person_gets_at_most_k_and_nobody_is_suggested_to_more_than_cap():
    star = P(1, "Star", offers=["Fundraising", "Hiring", "Board governance"])
    seekers = [P(i, asks=["Fundraising", "Hiring", "Board governance"], offers=[f"T{i}"]) for i in range(2, 30)]
    # Each seeker's second choice: a lesser helper each.
    helpers = [P(100 + i, offers=["Fundraising"]) for i in range(10)]
    result = suggest([star, *seekers, *helpers], k=3, cap=5)
    received: dict[int, int] = {}
    for pid, matches in result.items():
        assert len(matches) <= 3
        assert pid not in ids(matches)
        for m in matches:
            received[m.other] = received.get(m.other, 0) + 1
    assert max(received.values()) <= 5
    assert received[1] == 5  # the star is suggested to exactly `cap` people...
    with_star = [pid for pid, ms in result.items() if 1 in ids(ms)]
    assert with_star == [2, 3, 4, 5, 6]  # ...chosen deterministically (ties by id)
    # ...and everyone else still gets her next best: no seeker is left without a suggestion.
    assert all(result.get(s.id) for s in seekers)


def test_past_suggestions_are_excluded_in_that_direction_and_introductions_both_ways():
    ada = P(1, offers=["A"], asks=["B"])
    dana = P(2, offers=["B"], asks=["A"])
    erin = P(3, offers=["B"])
    first = suggest([ada, dana, erin], k=1)
    assert ids(first[1]) == [2]
    second = suggest([ada, dana, erin], History(suggested=frozenset({(1, 2)})), k=1)
    assert ids(second[1]) == [3]  # Dana was suggested to Ada already
    assert ids(second[2]) == [1]  # but Ada may still be suggested to Dana
    blocked = suggest([ada, dana, erin], History(introduced=frozenset({frozenset((1, 2))})), k=3)
    assert 2 not in ids(blocked.get(1, [])) and 1 not in ids(blocked.get(2, []))


def test_deterministic_whatever_the_input_order():
    rnd = random.Random(7)
    tags = [f"Tag {i}" for i in range(12)]
    people = [P(i, company=f"C{i % 4}", offers=rnd.sample(tags, 2), asks=rnd.sample(tags, 2)) for i in range(1, 80)]
    a = suggest(people)
    shuffled = people[:]
    rnd.shuffle(shuffled)
    b = suggest(shuffled)
    assert a == b
    assert a == suggest(list(reversed(people)))


def test_nobody_is_suggested_without_a_reason_unless_the_fallback_is_asked_for():
    loner = P(1, company="Solo", offers=["Knitting"])
    others = [P(2, company="X", offers=["A"], asks=["B"]), P(3, company="Y", offers=["B"], asks=["A"])]
    assert 1 not in suggest([loner, *others], fallback=False)
    fallback = suggest([loner, *others], fallback=True)[1]
    assert fallback and all(m.fallback for m in fallback)
    assert "someone new to know" in explain(fallback[0], "Dana", "Globex")


def test_explanations_in_plain_words():
    ada = P(1, offers=["Board governance"], asks=["Negotiating a raise"])
    dana = P(2, "Dana Okafor", offers=["Negotiating a raise"], asks=["Board governance"])
    assert explain(score_pair(ada, dana), "Dana") == (
        "Dana can help with negotiating a raise, which you are looking for; "
        "you could help Dana with board governance.")
    one_way = score_pair(P(1, asks=["AI strategy", "Hiring"]), P(2, offers=["AI strategy", "Hiring"]))
    assert explain(one_way, "Dana") == "Dana can help with AI strategy and hiring, which you are looking for."
    give = score_pair(P(1, offers=["Fundraising"]), P(2, asks=["Fundraising"]))
    assert explain(give, "Dana") == "Dana is looking for fundraising, which you could help with."
    peers = score_pair(P(1, asks=["Hiring"]), P(2, asks=["Hiring"]))
    assert explain(peers, "Dana") == "You and Dana share an interest in hiring."


def test_tags_compare_without_case_or_spacing():
    a = P(1, asks=["negotiating  a RAISE"])
    b = P(2, offers=["Negotiating a raise"])
    assert score_pair(a, b).they_offer == ("Negotiating a raise",)


def test_ten_thousand_profiles_without_the_pair_loop():
    """The tag index keeps the work per person bounded (the full benchmark lives in bench/)."""
    import time

    rnd = random.Random(1)
    tags = [f"Tag {i}" for i in range(30)]
    people = [P(i, company=f"C{i % 500}", offers=rnd.sample(tags, 3), asks=rnd.sample(tags, 3))
              for i in range(1, 10_001)]
    started = time.perf_counter()
    result = suggest(people)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"matching 10,000 people took {elapsed:.1f} s"
    assert len(result) > 9_900
    received: dict[int, int] = {}
    for matches in result.values():
        assert len(matches) <= 3
        for m in matches:
            assert m.score > 0 and (m.they_offer or m.you_offer or m.shared)
            received[m.other] = received.get(m.other, 0) + 1
    assert max(received.values()) <= 5
