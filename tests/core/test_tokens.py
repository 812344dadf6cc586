"""random_token: the length its bits need, only the look-alike-free alphabet, every letter equally
likely in every position (a biased or stuck position would cut the token's entropy)."""
from __future__ import annotations

import math
from collections import Counter

from eventsite.core.security import TOKEN_ALPHABET, random_token


def test_length_and_alphabet():
    for bits, length in ((130, 26), (40, 8), (128, 26), (1, 1)):
        tokens = {random_token(bits) for _ in range(200)}
        assert {len(t) for t in tokens} == {length}
        assert set("".join(tokens)) <= set(TOKEN_ALPHABET)
    assert len({random_token(40) for _ in range(2000)}) == 2000


def test_every_position_draws_every_letter_about_equally():
    draws = 6400  # 200 per letter expected in each position
    tokens = [random_token(40) for _ in range(draws)]
    for position in range(8):
        counts = Counter(t[position] for t in tokens)
        assert set(counts) == set(TOKEN_ALPHABET)
        # chi-squared with 31 degrees of freedom: 75 is far beyond p = 0.0001 for a fair draw
        chi2 = sum((counts[c] - draws / 32) ** 2 / (draws / 32) for c in TOKEN_ALPHABET)
        assert chi2 < 75, (position, chi2)


def test_another_alphabet_still_works():
    token = random_token(64, alphabet="0123456789")
    assert len(token) == math.ceil(64 / math.log2(10)) and token.isdigit()
