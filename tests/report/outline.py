"""What a report holds, independent of its markup: sections, pictures, links, table rows.

``report_outline(html)`` lists one entry per h1/h2/h3 heading, picture (file and caption),
caption, link (file and label) and table row header, in page order. Layer names and the
numbers in headings and row headers are replaced by placeholders, so the outline of a
report written before a change can be compared with one written after it (the baselines
in ``tests/report/baseline/`` were written by the report code of 2026-12-01, before the
report was parallelised and moved to jinja2 templates).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

BASELINE = Path(__file__).resolve().parent / "baseline"
# A layer section's heading: "LAYER (CxHxW)".
LAYER_HEADING = re.compile(r"^(?P<layer>\S+) \((\d+x)*\d+\)$")


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[list[str]] = []
        self._tag: str | None = None
        self._text: list[str] = []
        self._href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("h1", "h2", "h3", "figcaption", "a", "th"):
            self._tag, self._text, self._href = tag, [], values.get("href", "")
        elif tag == "img":
            self.items.append(["img", values.get("src", ""), values.get("alt", "")])

    def handle_data(self, data: str) -> None:
        if self._tag:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != self._tag:
            return
        text = " ".join("".join(self._text).split())
        self.items.append([tag, self._href, text] if tag == "a" else [tag, text])
        self._tag = None


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "layer"


def report_outline(page: str) -> list[list[str]]:
    """The outline of an HTML report page, layer names replaced by LAYER / {slug}."""
    parser = _Outline()
    parser.feed(page)
    out: list[list[str]] = []
    slug = None
    for item in parser.items:
        if item[0] == "h2":
            match = LAYER_HEADING.match(item[1])
            slug = _slug(match["layer"]) if match else None
            item = ["h2", "LAYER (shape)"] if match else item
        if item[0] == "th":
            item = ["th", re.sub(r"\d+", "N", item[1])]
        if slug and item[0] in ("img", "a"):
            item = [item[0], item[1].replace(slug, "{slug}"), *item[2:]]
        out.append(item)
    return out


def missing_from(baseline: list[list[str]], outline: list[list[str]]) -> list[list[str]]:
    """Entries of ``baseline`` that ``outline`` lacks, matched in order (additions are fine)."""
    missing, position = [], 0
    for entry in baseline:
        try:
            position = outline.index(entry, position) + 1
        except ValueError:
            missing.append(entry)
    return missing


def load_baseline(name: str) -> list[list[str]]:
    """A baseline outline stored as JSON (raw: layer names are normalised on load)."""
    raw = json.loads((BASELINE / f"{name}.json").read_text())
    return report_outline(_to_html(raw))


def _to_html(items: list[list[str]]) -> str:
    """Rebuild a minimal page from a raw outline so it goes through the same normalisation."""
    from html import escape

    parts = []
    for item in items:
        if item[0] == "img":
            parts.append(f"<img src='{escape(item[1])}' alt='{escape(item[2])}'>")
        elif item[0] == "a":
            parts.append(f"<a href='{escape(item[1])}'>{escape(item[2])}</a>")
        else:
            parts.append(f"<{item[0]}>{escape(item[1])}</{item[0]}>")
    return "".join(parts)
