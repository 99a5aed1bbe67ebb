"""The review page without a browser: its Content-Security-Policy allows exactly its own inline
script and style, conversation text and prior notes stay text, and the script never writes
markup. (tests/e2e/test_review_browser.py works through the page in chromium.)"""

import base64
import hashlib
import importlib.resources
import re
from html.parser import HTMLParser

import pandas as pd

from pixelated.ingest.conversation import make_turn
from pixelated.scoring.metrics import METRICS
from pixelated.selection import gates, review
from tests.unit.selection.test_select import CFG, scored

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """The parts of the page a CSP check needs: the CSP, inline blocks, attributes."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.csp, self.blocks, self.attributes, self._open = "", [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += list(attrs)
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        if tag in ("script", "style"):
            self._open = (tag, attrs.get("type"), [])

    def handle_data(self, data):
        if self._open:
            self._open[2].append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            self.blocks.append((tag, self._open[1], "".join(self._open[2])))
            self._open = None


def page(verdicts: pd.DataFrame | None = None, turns: list[dict] | None = None) -> str:
    """The page for two scored conversations, each with `turns` when given."""
    batch = scored(2)
    if turns is not None:
        batch["turns"] = [turns, turns]
    batch["quality_tier"] = gates.tier_of(batch["quality"], CFG.quality.tiers)
    batch["auto_decision"], batch["review_reason"] = "keep", "sample"
    return review.render_review_html(batch, METRICS, 0.01, verdicts)


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_allows_exactly_the_inline_script_and_style():
    parsed = Page(page())
    policy = dict(part.strip().split(" ", 1) for part in parsed.csp.split(";"))
    assert policy["default-src"] == "'none'"
    executed = [(tag, text) for tag, kind, text in parsed.blocks if kind != "application/json"]
    assert [tag for tag, _ in executed] == ["style", "script"]
    for tag, text in executed:
        assert policy[f"{tag}-src"] == sha256(text)
    # a style attribute or an event handler would be blocked by this policy, a src/href would load
    assert not {"style", "src", "href"} & set(parsed.attributes)
    assert not [name for name in parsed.attributes if name.startswith("on")]


def test_conversation_text_and_prior_notes_stay_text():
    first = scored(2)["conversation_id"][0]
    verdicts = pd.DataFrame(
        {"verdict": ["drop"], "reviewer": ["dr a"], "note": ["</script><script>alert(2)"]},
        index=pd.Index([first], name="conversation_id"),
    )
    html = page(verdicts, [make_turn("seeker", HOSTILE), make_turn("helper", "ok")])
    assert HOSTILE not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    parsed = Page(html)
    assert len(parsed.blocks) == 3  # the note did not close the JSON block
    prior = next(text for _, kind, text in parsed.blocks if kind == "application/json")
    assert "</script>" not in prior and '"reviewer": "dr a"' in prior


def test_page_exports_the_columns_read_verdicts_reads():
    match = re.search(r'data-columns="([^"]+)"', page())
    assert tuple(match.group(1).split(",")) == gates.VERDICT_COLUMNS


def test_script_writes_no_markup():
    script = importlib.resources.files("pixelated.selection").joinpath("templates/review.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in script


def test_review_set_id_names_the_set_not_its_order():
    assert review.review_set_id(["b", "a"]) == review.review_set_id(["a", "b"])
    assert review.review_set_id(["a"]) != review.review_set_id(["a", "b"])


def test_the_page_reads_its_conversations_as_it_is_written():
    """review_page takes the rows as a stream: it never asks for their number (jinja's
    loop.length would read them all into a list first)."""
    batch = scored(3)
    batch["quality_tier"] = gates.tier_of(batch["quality"], CFG.quality.tiers)
    batch["auto_decision"], batch["review_reason"] = "keep", "sample"
    consumed = []

    def rows():
        for row in review.page_rows([batch]):
            consumed.append(row["conversation_id"])
            yield row

    pieces = review.review_page(rows(), batch, METRICS, 0.01)
    written = ""
    while "2 of 3:" not in written:
        written += next(pieces)
        assert len(consumed) <= 2 or "2 of 3:" in written  # the third row waits for the second
    assert "1 of 3:" in written and len(consumed) == 2
    "".join(pieces)
    assert consumed == batch["conversation_id"].tolist()
