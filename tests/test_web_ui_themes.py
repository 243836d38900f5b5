"""Themes in a real browser (Debian's Chromium) against a real ``dashcam run --sim`` child:
auto follows the phone's light or dark setting, the choice (auto, dark, light, sunlight) is
this phone's and is applied before the first paint, and every visible text meets WCAG AA
contrast in every theme, tab and orientation (measured from the computed styles).
"""

from __future__ import annotations

import pytest

from tests.browser_fixtures import (
    VIEWPORTS,
    get_json,
    module_fixtures,
    phone_page,
)
from tests.harness import wait_until

TABS = ("live", "gallery", "settings")

#: Every visible element with text of its own (or a form field's value): its contrast
#: against the background it is drawn on, which is found by walking up the ancestors and
#: compositing their background colours (alpha included) over the canvas. Text colour alpha
#: and ancestors' opacity are composited too. Disabled controls are left out (WCAG 1.4.3
#: exempts inactive components). AA: 4.5:1, or 3:1 for large text (>= 24 px, or >= 18.66 px
#: bold).
CONTRAST = """(minimum) => {
  const parse = (c) => {
    if (c === "transparent") return { r: 0, g: 0, b: 0, a: 0 };
    const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => {
    const a = top.a + bottom.a * (1 - top.a);
    if (a === 0) return { r: 0, g: 0, b: 0, a: 0 };
    const mix = (k) => (top[k] * top.a + bottom[k] * bottom.a * (1 - top.a)) / a;
    return { r: mix("r"), g: mix("g"), b: mix("b"), a };
  };
  const lum = (c) => {
    const lin = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  };
  const background = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(getComputedStyle(e).backgroundColor);
    let bg = { r: 255, g: 255, b: 255, a: 1 };  // the canvas
    for (const c of chain.reverse()) bg = over(parse(c), bg);
    return bg;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const hasText = (el) => {
    if (el.matches("input[type=text], input[type=number], select")) return !!el.value;
    return [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  };
  const out = [];
  let checked = 0;
  for (const el of document.body.querySelectorAll("*")) {
    if (!hasText(el) || el.closest(":disabled")) continue;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const cs = getComputedStyle(el);
    const bg = background(el);
    const fg = parse(cs.color);
    fg.a *= opacity(el);
    const shown = over(fg, bg);
    const [hi, lo] = [lum(shown), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const need = minimum === "AAA" ? (large ? 4.5 : 7) : (large ? 3 : 4.5);
    checked++;
    if (ratio < need - 0.005) {
      const text = (el.value || el.textContent).trim().slice(0, 40);
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} "${text}": `
        + `${ratio.toFixed(2)} < ${need} (${cs.color} on rgb(${bg.r|0}, ${bg.g|0}, ${bg.b|0}))`);
    }
  }
  return { checked, offenders: out };
}"""


server, browser = module_fixtures(folder="themes")


def show_tab(page, tab: str) -> None:
    page.click(f"a[data-tab='{tab}']")
    page.wait_for_function(f"!document.getElementById('tab-{tab}').hidden")
    if tab == "gallery":
        page.wait_for_selector("#gallery .tile")
    elif tab == "settings":
        page.wait_for_function("document.querySelector('[name=clip_sec]').value !== ''")


@pytest.fixture(scope="module")
def clips(server):
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 2, 20)
    return server


@VIEWPORTS
@pytest.mark.parametrize(
    ("choice", "scheme", "theme"),
    [
        ("auto", "dark", "dark"),
        ("auto", "light", "light"),
        ("dark", "light", "dark"),
        ("light", "dark", "light"),
        ("sunlight", "dark", "sunlight"),
    ],
)
def test_every_text_meets_wcag_aa_in_every_theme(browser, clips, viewport, choice, scheme, theme):
    with phone_page(browser, clips, viewport, theme=choice, color_scheme=scheme) as page:
        assert page.get_attribute("html", "data-theme") == theme
        for tab in TABS:
            show_tab(page, tab)
            result = page.evaluate(CONTRAST, "AA")
            assert result["checked"] >= 10, (tab, result)
            assert result["offenders"] == [], (theme, tab, result["offenders"])
        # The toasts of each kind, once their entrance is over.
        page.evaluate("toast('Photo saved'); toast('Card full', 'warn'); toast('Error', 'error')")
        page.wait_for_function(
            "[...document.querySelectorAll('.toast')].every(t => !t.getAnimations().length)"
        )
        result = page.evaluate(CONTRAST, "AA")
        assert page.locator(".toast").count() == 3
        assert result["offenders"] == [], (theme, "toasts", result["offenders"])


def test_sunlight_is_high_contrast_with_big_type(browser, clips):
    """Sunlight: 7:1 (AAA) on the Live and Settings tabs, type a quarter bigger."""
    sizes = {}
    for choice in ("dark", "sunlight"):
        with phone_page(browser, clips, theme=choice) as page:
            sizes[choice] = page.evaluate(
                "[...document.querySelectorAll('.note, .tabs a, .legend')]"
                ".map(e => parseFloat(getComputedStyle(e).fontSize))"
            )
            if choice == "sunlight":
                for tab in ("live", "settings"):
                    show_tab(page, tab)
                    result = page.evaluate(CONTRAST, "AAA")
                    assert result["offenders"] == [], (tab, result["offenders"])
    assert min(sizes["dark"]) >= 14  # no 13 px notes any more
    assert min(sizes["sunlight"]) >= 17
    assert [s * 1.25 for s in sizes["dark"]] == sizes["sunlight"]


@VIEWPORTS
def test_the_theme_is_chosen_in_settings_kept_and_applied_before_the_first_paint(
    browser, clips, viewport
):
    with phone_page(browser, clips, viewport, color_scheme="dark") as page:
        assert page.get_attribute("html", "data-theme") == "dark"  # auto, the phone is dark
        dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        show_tab(page, "settings")
        assert page.is_checked("input[name=theme][value=auto]")
        page.click("label:has(input[name=theme][value=light])")
        page.wait_for_function("document.documentElement.dataset.theme === 'light'")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != dark_bg
        assert page.evaluate("localStorage.getItem('dashcam.theme')") == "light"
        assert page.get_attribute("meta[name=theme-color]", "content") == "#f4f5f7"
        # Reloaded: the theme is there when the body is first parsed (no dark flash).
        page.add_init_script(
            """new MutationObserver((_, obs) => {
                 if (document.body) { window.themeAtBody = document.documentElement.dataset.theme;
                                      obs.disconnect(); }
               }).observe(document, { childList: true, subtree: true });"""
        )
        page.reload()
        page.wait_for_function("status !== null")
        assert page.evaluate("window.themeAtBody") == "light"
        show_tab(page, "settings")
        assert page.is_checked("input[name=theme][value=light]")
        # Back to auto: it follows the phone's setting, also when the phone changes it.
        page.click("label:has(input[name=theme][value=auto])")
        page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
        page.emulate_media(color_scheme="light")
        page.wait_for_function("document.documentElement.dataset.theme === 'light'")
        page.emulate_media(color_scheme="dark")
        page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
