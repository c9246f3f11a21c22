"""WCAG contrast of an element's text against what is behind it, measured in the browser."""

from __future__ import annotations

# the element's computed colour against the first non-transparent background among it and its ancestors
JS_COLOURS = """el => {
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  let n = el, bg = null;
  while (n && n.nodeType === 1) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] > 0) { bg = c.slice(0, 3); break; }
    n = n.parentElement;
  }
  return { fg: rgb(getComputedStyle(el).color).slice(0, 3), bg: bg || [255, 255, 255] };
}"""


def _lum(rgb: list[float]) -> float:
    def ch(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (ch(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg: list[float], bg: list[float]) -> float:
    a, b = sorted((_lum(fg), _lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def contrast(page, selector: str) -> tuple[float, list[float]]:
    """(contrast ratio, text colour) of the first element matching ``selector``."""
    c = page.eval_on_selector(selector, JS_COLOURS)
    return ratio(c["fg"], c["bg"]), c["fg"]
