"""Fuzz helpers: nasty values, the fields of a page's form, and table snapshots.

The rule every fuzz test checks: no 5xx, and a rejected input (4xx, or the form shown again with its
errors) leaves every table exactly as it was (`snapshot` before and after compares whole rows).
"""
from __future__ import annotations

import json
from html.parser import HTMLParser

from hypothesis import strategies as st
from sqlalchemy import text

from eventsite.extensions import db

# --- values ------------------------------------------------------------------------------------

MARKUP = [
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% raw %}", "javascript:alert(1)",
    "' OR '1'='1", "'; DROP TABLE orders; --", "%s%s%n", "../../etc/passwd", "=cmd|' /C calc'!A0",
    "@SUM(1+1)", "<!--", "]]>", "&amp;&lt;", "\\", "%00", "null", "None", "true", "-1", "0", "1e309", "NaN",
    "2027-02-30T25:61:00+25:00", "x@y", "a@b.c", "fiona@example.org", "FIONA@EXAMPLE.ORG ", "\u202egnp.exe",
    "Zoë Ñandú 李小龍 👩‍💼", "\u0000", "\r\nBcc: victim@example.org", "\ufeff", "\u200b", "a" * 201, "é" * 300,
]
CONTROL = st.text(st.characters(min_codepoint=0, max_codepoint=31), min_size=1, max_size=20)
# Forms are sent as UTF-8: no lone surrogates (the client could not even encode them).
UNICODE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
HUGE = st.sampled_from([1_000, 10_000, 100_000]).flatmap(
    lambda n: st.sampled_from(["a", "é", "<", "👩", " ", "\n", "9"]).map(lambda c: c * n))
# In a URL, 5,000 characters already exceed what gunicorn accepts in a request line (4,094 bytes).
HUGE_IN_URL = st.sampled_from([1_000, 5_000]).flatmap(
    lambda n: st.sampled_from(["a", "é", "<", "👩", " ", "9"]).map(lambda c: c * n))
NUMBERS = st.one_of(st.integers(-10**20, 10**20).map(str), st.sampled_from(["", " 1", "1.5", "0x10", "١٢", "+3"]))

# Huge strings are kept out of `form_value`: a page that shows a rejected form again echoes every
# value, so one 100,000-character value per example (in a quarter of them) is what a test can afford.
form_value = st.one_of(st.sampled_from(MARKUP), CONTROL, UNICODE, NUMBERS, st.just(""))


def _with_one_huge(fields: dict, pick: tuple[int, str, str]) -> dict:
    chance, name, huge = pick
    return {**fields, name: huge} if chance == 0 else fields


def form_values(names: list[str], *, extra: bool = True, huge=HUGE):
    """A dict for `names`: each a nasty string, a list of them (repeated field), or left out; in a
    quarter of the examples one of them is `huge` (HUGE_IN_URL for query strings)."""
    value = st.one_of(form_value, st.lists(form_value, min_size=2, max_size=3))
    fields = st.fixed_dictionaries({}, optional={name: value for name in names})
    if names:
        fields = st.tuples(fields, st.tuples(st.integers(0, 3), st.sampled_from(names), huge)).map(
            lambda t: _with_one_huge(*t))
    if not extra:
        return fields
    return st.tuples(fields, st.dictionaries(UNICODE.filter(bool), form_value, max_size=2)).map(
        lambda t: {**t[1], **t[0]})


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), form_value,
                        st.text(max_size=30))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)), max_leaves=6)


def json_bodies(fields: dict[str, object]):
    """JSON bodies for an endpoint whose known fields are `fields` (name -> strategy of good values):
    each field either well typed, any JSON value (wrong types), or left out; sometimes an unknown
    field; sometimes not an object or not JSON at all."""
    per_field = {name: st.one_of(good, json_value) for name, good in fields.items()}
    objects = st.tuples(st.fixed_dictionaries({}, optional=per_field),
                        st.dictionaries(st.text(max_size=12), json_value, max_size=2)).map(
        lambda t: {**t[1], **t[0]})
    encoded = objects.map(lambda o: json.dumps(o).encode())
    broken = st.one_of(
        json_value.map(lambda v: json.dumps(v).encode()),  # not an object
        st.binary(max_size=40),  # not JSON, maybe not UTF-8
        st.sampled_from([b"", b"{", b'{"title": NaN}', b'{"a": Infinity}', b'{"title": "\\ud800"}',
                         b"[" * 5000 + b"]" * 5000, b'{"title": "x"}' + b" " * 10, b"\xff\xfe{}"]),
    )
    return st.one_of(encoded, encoded, encoded, broken)


# --- forms ---------------------------------------------------------------------------------------

class _Fields(HTMLParser):
    def __init__(self, action: str | None):
        super().__init__()
        self.action, self.inside, self.names = action, action is None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is not None:
            self.inside = (a.get("action") or "").split("?")[0] == self.action
        elif self.inside and tag in ("input", "select", "textarea") and a.get("name"):
            if a["name"] != "csrf_token" and a["name"] not in self.names:
                self.names.append(a["name"])

    def handle_endtag(self, tag):
        if tag == "form" and self.action is not None:
            self.inside = False


def form_fields(html: bytes | str, action: str | None = None) -> list[str]:
    """The names of the fields of the form posting to `action` (any form when None), CSRF excepted."""
    parser = _Fields(action)
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser.names


# --- tables --------------------------------------------------------------------------------------

# Bookkeeping that a request writes whatever its input, not a change the input asked for.
IGNORED_COLUMNS = {"api_tokens": {"last_used_at"}}


def _fingerprint_sql(dialect: str) -> tuple[list[str], str]:
    """One SELECT that returns, per table, all its rows as one text in primary-key order (one round
    trip instead of one per table: the fuzz tests take a snapshot after every request)."""
    names, parts = [], []
    for table in db.metadata.sorted_tables:
        ignored = IGNORED_COLUMNS.get(table.name, set())
        columns = [f'"{c.name}"' for c in table.columns if c.name not in ignored]
        order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or "1"
        if dialect == "postgresql":
            parts.append(f"(SELECT coalesce(string_agg(ROW({', '.join(columns)})::text, '|' ORDER BY {order}), '') "
                         f'FROM "{table.name}")')
        else:
            row = " || ',' || ".join(f"quote({c})" for c in columns)
            parts.append(f"(SELECT coalesce(group_concat(r, '|'), '') FROM "
                         f'(SELECT {row} AS r FROM "{table.name}" ORDER BY {order}))')
        names.append(table.name)
    return names, "SELECT " + ", ".join(parts)


_SQL: dict[str, tuple[list[str], str]] = {}


def snapshot(app) -> dict[str, str]:
    """Every row of every table as text, per table (the fuzz worlds are a few dozen rows)."""
    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect not in _SQL:
            _SQL[dialect] = _fingerprint_sql(dialect)
        names, sql = _SQL[dialect]
        with db.engine.connect() as conn:
            row = conn.execute(text(sql)).one()
        db.session.remove()
    return dict(zip(names, row))


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def is_rejected(response) -> bool:
    """4xx, or the form shown again (200 on a POST means the page came back with its errors)."""
    return 400 <= response.status_code < 500 or response.status_code == 200


def redirected(response) -> bool:
    return 300 <= response.status_code < 400


class Guard:
    """Checks each response of a fuzz test: no 5xx, and a rejected input changed no row.

    Keeps one snapshot as the baseline: after a rejected input the tables must still equal it; after
    an accepted one (`accepted(response)`, a redirect by default) it becomes the new baseline.
    """

    def __init__(self, app, accepted=redirected):
        self.app, self.accepted = app, accepted
        self.baseline = snapshot(app)
        self.outcomes: dict[int, int] = {}
        self.rejected = 0

    def check(self, response, what: str = "") -> None:
        self.outcomes[response.status_code] = self.outcomes.get(response.status_code, 0) + 1
        body = response.get_data(as_text=True)
        assert response.status_code < 500, f"{what} -> {response.status_code}: {body[:800]}"
        now = snapshot(self.app)
        if self.accepted(response):
            self.baseline = now
            return
        self.rejected += 1
        changed = changed_tables(self.baseline, now)
        assert not changed, f"{what} rejected ({response.status_code}) but changed tables {changed}"

    def done(self) -> None:
        """The rule was exercised: some generated inputs were rejected."""
        assert self.rejected > 0, f"no generated input was rejected: {self.outcomes}"
