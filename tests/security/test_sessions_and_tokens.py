"""Sessions are new at login (no session fixation) and end with a password change; tokens and
secrets are compared in constant time wherever Python compares them (SQL lookups by token aside)."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import csrf_from, login, post_form

PACKAGE = Path(__file__).resolve().parents[2] / "eventsite"


def test_the_session_cookie_from_before_login_is_not_valid_after(app, organizer):
    browser = app.test_client()
    page = browser.get("/organizer/login")
    before = browser.get_cookie("session").value
    old_csrf = csrf_from(page.data)

    login(browser, organizer["email"])
    after = browser.get_cookie("session").value
    assert after != before
    assert browser.get("/organizer/settings").status_code == 200

    # Someone who planted or kept the pre-login cookie is not logged in with it...
    planted = app.test_client()
    planted.set_cookie("session", before)
    answer = planted.get("/organizer/settings")
    assert answer.status_code == 302 and "/organizer/login" in answer.headers["Location"]
    # ...and nothing from before survives in her session: the old CSRF token no longer matches it.
    refused = browser.post("/organizer/settings/tokens", data={"csrf_token": old_csrf, "token_name": "x"})
    assert refused.status_code == 400
    assert post_form(browser, "/organizer/settings/tokens", {"token_name": "x"},
                     form_url="/organizer/settings").status_code == 200


def test_a_password_change_ends_other_sessions_and_keeps_this_one(app, organizer):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, organizer["email"])
    login(elsewhere, organizer["email"])
    stolen = elsewhere.get_cookie("session").value
    changed = post_form(here, "/organizer/settings/password",
                        {"current_password": organizer["password"], "new_password": "a whole new passphrase",
                         "confirm_password": "a whole new passphrase"}, form_url="/organizer/settings")
    assert changed.status_code == 303
    assert here.get("/organizer/settings").status_code == 200
    assert elsewhere.get("/organizer/settings").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/organizer/settings").status_code == 302


# --- constant-time comparisons ------------------------------------------------------------------

SECRET_WORDS = ("token", "secret", "signature", "link_key", "fingerprint", "password", "digest", "mark")


def _names(node: ast.AST) -> str:
    """The identifier a compared operand ends in: x.token -> token, f() -> f, a[b] -> a."""
    while isinstance(node, (ast.Subscript, ast.Call)):
        node = node.value if isinstance(node, ast.Subscript) else node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _is_sql_column(node: ast.AST) -> bool:
    """`Order.token`, `ApiToken.token_hash`: a model's column, so the comparison is SQL."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id[:1].isupper()


def _python_secret_comparisons(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(o, ast.Constant) for o in operands) or any(_is_sql_column(o) for o in operands):
            continue
        if any(any(word in _names(o).lower() for word in SECRET_WORDS) for o in operands):
            lines.append(node.lineno)
    return lines


def test_python_never_compares_secrets_with_equals():
    """Every `a == b` / `a != b` on something named like a token, secret, signature, key, password
    or fingerprint is either SQL (a model column) or against a constant; the others use
    hmac.compare_digest (core.security.tokens_equal)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = _python_secret_comparisons(ast.parse(path.read_text(), str(path)))
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
    assert not found, f"compare these with eventsite.core.security.tokens_equal: {found}"


def test_the_checker_finds_a_plain_comparison():
    bad = ast.parse("if order.token == given_token:\n    pass\nok = Order.token == t\nfine = x.secret is None")
    assert _python_secret_comparisons(bad) == [1]


def test_tokens_equal_is_hmac_compare_digest():
    import hmac
    from unittest import mock

    from eventsite.core import security

    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert security.tokens_equal("ABC", "ABC") and not security.tokens_equal("ABC", "ABD")
    assert spy.call_count == 2
