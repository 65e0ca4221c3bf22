"""paper.html as a reader sees it: headless Chromium (Debian's `chromium`; .ci/run installs it
when root). Without a browser these tests skip and say why."""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import pytest

from nrm.build.htmlcheck import check_html, chromium

needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="no Chromium on this machine: apt-get install chromium (.ci/run does it as root), "
           "or set NRM_CHROMIUM to a Chrome/Chromium executable")


def _png() -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return base64.b64encode(buf.getvalue()).decode()


def _page(img: str, link: str = "#sec", caption: str = "Table 1. Things.") -> str:
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>
<style>@media print {{ body {{ color: #000; }} }}</style></head><body>
<h2 id="sec">Section</h2><p><a href="{link}">to the section</a></p>
<p><img alt="Figure 1" src="data:image/png;base64,{img}"></p>
<p><em>{caption}</em></p>
<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>
</body></html>"""


@needs_chromium
def test_a_good_page_passes_and_is_screenshotted(tmp_path: Path) -> None:
    page = tmp_path / "good.html"
    page.write_text(_page(_png()), encoding="utf-8")
    res = check_html(page)
    assert res.ok, res.problems
    assert (res.images, res.links, res.tables) == (1, 1, 1)
    assert res.screenshot == tmp_path / "good.png"
    assert res.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_broken_image_link_caption_and_script_error_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    html = _page("iVBORw0KGgoAAAAbroken", link="#nowhere", caption="Things.")
    html = html.replace("</body>", "<script>console.error('boom')</script></body>")
    page.write_text(html, encoding="utf-8")
    res = check_html(page)
    text = "\n".join(res.problems)
    assert "image 'Figure 1' did not decode" in text
    assert "in-page link #nowhere points nowhere" in text
    assert "has no 'Table N.' caption" in text
    assert "console error: boom" in text


@needs_chromium
def test_a_remote_request_is_blocked_and_reported(tmp_path: Path) -> None:
    page = tmp_path / "remote.html"
    page.write_text(_page(_png()).replace(
        "</head>", '<link rel="stylesheet" href="https://example.org/x.css"></head>'),
        encoding="utf-8")
    res = check_html(page)
    assert any("requested https://example.org/x.css" in p for p in res.problems), res.problems


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
@needs_chromium
def test_the_smoke_paper_reads_right_in_chromium(smoke_build: Path) -> None:
    page = smoke_build / "paper" / "paper.html"
    res = check_html(page)
    assert res.ok, res.problems
    from nrm.render.paper import BUILD_FIGURES

    # the paper's figures, the causal study's, its controls' and the prediction's
    assert res.images == len(BUILD_FIGURES)
    assert res.tables >= 10 and res.links >= 5
    shot = smoke_build / "paper" / "paper.png"
    assert res.screenshot == shot and shot.stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
@needs_chromium
def test_the_check_fails_on_a_copy_with_a_broken_image(smoke_build: Path, tmp_path: Path) -> None:
    broken = tmp_path / "paper.html"
    shutil.copyfile(smoke_build / "paper" / "paper.html", broken)
    html = broken.read_text(encoding="utf-8")
    html, n = re.subn(r'(src="data:image/png;base64,)[^"]+', r"\1iVBORw0KGgoAAAAbroken", html,
                      count=1)
    assert n == 1
    broken.write_text(html, encoding="utf-8")
    res = check_html(broken)
    assert not res.ok
    assert any("did not decode" in p for p in res.problems), res.problems
