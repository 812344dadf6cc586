"""Accessibility helpers for the browser tests: axe-core run inside the page, and keyboard focus checks.

axe-core is vendored in tests/browser/vendor/axe-core/ (see its VENDOR.md). It is evaluated through
the DevTools protocol, so the app's Content-Security-Policy (scripts from 'self' only) need not change.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page, *, impacts: tuple[str, ...] = BLOCKING) -> list[dict]:
    """The axe-core violations of the page as it is now (WCAG 2.x A and AA plus best practices)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;true")
    results = page.evaluate("""() => axe.run(document, {resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})""")
    return [v for v in results["violations"] if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    """Each violation with the nodes it points at, for the assertion message."""
    lines: list[str] = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    at {json.dumps(node['target'])}: {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n        ")
            if summary:
                lines.append(f"        {summary}")
    return "\n".join(lines)


def assert_no_axe_violations(page, label: str = "") -> None:
    violations = axe_violations(page)
    where = label or page.url
    assert violations == [], f"axe-core found serious or critical violations on {where}:\n{describe(violations)}"


# --- the keyboard -----------------------------------------------------------------------------

FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  const shadow = s.boxShadow && s.boxShadow !== 'none';
  const r = el.getBoundingClientRect();
  const text = el.tagName === 'SELECT' ? el.value : (el.innerText || el.value || el.getAttribute('aria-label') || '');
  return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name'), text: text.trim().slice(0, 60),
          visible: outline || shadow, outline: s.outline, shadow: s.boxShadow,
          onScreen: r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth};
}"""


def focused(page) -> dict | None:
    """What has the keyboard focus, and whether it shows (a non-none outline or box-shadow)."""
    return page.evaluate(FOCUS_STATE)


def assert_focus_visible(page) -> dict:
    state = focused(page)
    assert state is not None, "nothing has the focus"
    assert state["visible"], f"the focused element shows no focus: {state}"
    assert state["onScreen"], f"the focused element is not on the screen: {state}"
    return state


def tab_to(page, target, *, limit: int = 80, backwards: bool = False) -> dict:
    """Press Tab (or Shift+Tab) until `target` (a selector, Playwright's text selectors included, or a
    Locator) has the focus, checking at every stop that the focus can be seen."""
    locator = page.locator(target) if isinstance(target, str) else target
    locator.first.wait_for(state="attached")
    locator.evaluate_all("els => els.forEach(el => el.setAttribute('data-tab-target', ''))")
    step = "() => { const s = (" + FOCUS_STATE + """)();
        if (s) { s.target = document.activeElement.hasAttribute('data-tab-target'); }
        return s; }"""
    key = "Shift+Tab" if backwards else "Tab"
    seen: list[str] = []
    try:
        for _ in range(limit):
            page.keyboard.press(key)
            state = page.evaluate(step)
            if state is None:  # past the last (or first) stop: the browser's own controls
                seen.append("(the browser)")
                continue
            assert state["visible"], f"the focused element shows no focus: {state}"
            assert state["onScreen"], f"the focused element is not on the screen: {state}"
            if state["target"]:
                return state
            seen.append(f"{state['tag']}#{state['id']}[{state['text']}]")
    finally:
        page.evaluate("() => document.querySelectorAll('[data-tab-target]').forEach(el => el.removeAttribute('data-tab-target'))")
    raise AssertionError(f"{key} never reached {target}; the stops were: {seen}")


def tab_through(page, *, limit: int = 250) -> list[str]:
    """Tab once round the whole page (from the focus, past the end, from the top back to it),
    checking that every stop shows its focus and is on the screen; returns the stops (tag#id[text])."""
    step = "() => { const s = (" + FOCUS_STATE + """)();
        const el = document.activeElement;
        if (s) { s.start = el.hasAttribute('data-tab-start'); el.setAttribute('data-tab-start', ''); }
        return s; }"""
    stops: list[str] = []
    try:
        for _ in range(limit):
            page.keyboard.press("Tab")
            state = page.evaluate(step)
            if state is None:  # the browser's own controls, between the end and the top
                continue
            if state["start"]:
                return stops
            assert state["visible"], f"stop {len(stops) + 1} shows no focus: {state}"
            assert state["onScreen"], f"stop {len(stops) + 1} is not on the screen: {state}"
            stops.append(f"{state['tag']}#{state['id']}[{state['text']}]")
    finally:
        page.evaluate("() => document.querySelectorAll('[data-tab-start]').forEach(el => el.removeAttribute('data-tab-start'))")
    raise AssertionError(f"Tab did not come round the page in {limit} stops: {stops}")
