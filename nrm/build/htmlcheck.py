"""Open paper.html in headless Chromium and check what a reader sees.

Driven over the Chrome DevTools protocol (``websocket-client``): Chromium starts with
``--headless --remote-debugging-port=0`` in a throw-away profile, the page is loaded from
``file://`` with every network request blocked and recorded, and a small script reports what
the browser made of it:

- every ``<img>`` decoded, with a non-zero natural size;
- every in-page link (``href="#..."``) resolves to an element id or anchor name;
- every ``<table>`` has a header row and a caption (the paper writes captions as the
  paragraph "Table N. ..." just before the table);
- the console shows no errors and no exception was thrown;
- no request left the file (the page is self-contained);
- at a 390 px wide viewport no text overflows the page sideways (tables scroll in their own
  box), and the page prints (``Page.printToPDF``) with a print stylesheet.

A full-page screenshot is saved next to the paper (``paper.png``), and the top of the page
as a phone shows it (``paper-narrow.png``). ``python -m nrm.build.htmlcheck
PAGE.html`` prints the problems and exits 1 if there are any; :func:`chromium` finds the
browser (``NRM_CHROMIUM`` overrides), None when absent.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nrm.exceptions import NrmError

__all__ = ["CheckResult", "check_html", "chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")

_PROBE = r"""
(() => {
  const out = {images: [], links: [], tables: [], title: document.title};
  for (const img of document.images) {
    out.images.push({src: (img.getAttribute('src') || '').slice(0, 60), complete: img.complete,
                     w: img.naturalWidth, h: img.naturalHeight, alt: img.alt});
  }
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    // follow the link as the browser does and see whether it lands on an element
    const href = a.getAttribute('href');
    history.replaceState(null, '', '#');
    location.hash = href;
    const ok = href === '#' || !!document.querySelector(':target') ||
               document.getElementsByName(decodeURIComponent(href.slice(1))).length > 0;
    out.links.push({href, ok});
  }
  history.replaceState(null, '', '#');
  window.scrollTo(0, 0);
  let i = 0;
  for (const t of document.querySelectorAll('table')) {
    i += 1;
    const head = t.querySelector('thead th, tr th');
    let cap = t.querySelector('caption');
    let capText = cap ? cap.textContent.trim() : '';
    if (!capText) {
      let el = t;
      while (el && !el.previousElementSibling && el.parentElement) el = el.parentElement;
      el = el ? el.previousElementSibling : null;
      capText = el ? el.textContent.trim() : '';
    }
    out.tables.push({index: i, header: !!head, caption: capText.slice(0, 80),
                     captioned: /^Table \d+\./.test(capText)});
  }
  out.scrollWidth = document.documentElement.scrollWidth;
  out.innerWidth = window.innerWidth;
  out.height = Math.ceil(document.documentElement.scrollHeight);
  out.printRules = [...document.styleSheets].some(s => {
    try { return [...s.cssRules].some(r => r.media && /print/.test(r.media.mediaText)); }
    catch (e) { return false; }
  });
  return JSON.stringify(out);
})()
"""


def chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``NRM_CHROMIUM`` first), or None."""
    env = os.environ.get("NRM_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class CheckResult:
    page: Path
    problems: list[str] = field(default_factory=list)
    images: int = 0
    links: int = 0
    tables: int = 0
    console: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    narrow_screenshot: Path | None = None  # the top of the page at 390 px

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        head = (f"{self.page}: {self.images} images, {self.links} in-page links, "
                f"{self.tables} tables; screenshot {self.screenshot}")
        if self.ok:
            return head + "\nOK: every check passed"
        return head + "\n" + "\n".join(f"PROBLEM: {p}" for p in self.problems)


class _Cdp:
    """A minimal DevTools session over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise NrmError(f"Chromium: {method} failed: {msg['error']}")
                return dict(msg.get("result", {}))
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        if any(e["method"] == event for e in self.events):
            return
        while time.monotonic() < end:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == event:
                    return
        raise NrmError(f"Chromium: no {event} within {timeout} s")

    def close(self) -> None:
        self.ws.close()


def _start(exe: str, profile: Path) -> tuple[subprocess.Popen[bytes], int]:
    args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--disable-dev-shm-usage", "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if port_file.is_file():
            text = port_file.read_text().split()
            if text:
                return proc, int(text[0])
        if proc.poll() is not None:
            raise NrmError(f"Chromium ({exe}) exited with status {proc.returncode} at start")
        time.sleep(0.1)
    proc.kill()
    raise NrmError("Chromium did not open its DevTools port within 60 s")


def _page_ws(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
        pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
    if not pages:
        raise NrmError("Chromium opened no page")
    return str(pages[0]["webSocketDebuggerUrl"])


def check_html(page: str | Path, *, screenshot: str | Path | None = None,
               exe: str | None = None) -> CheckResult:
    """Check ``page`` in headless Chromium; the screenshot defaults to ``<page stem>.png``."""
    page = Path(page).resolve()
    if not page.is_file():
        raise NrmError(f"{page} not found")
    exe = exe or chromium()
    if exe is None:
        raise NrmError("no Chromium found (apt-get install chromium, or set NRM_CHROMIUM)")
    shot = Path(screenshot) if screenshot else page.with_suffix(".png")
    res = CheckResult(page)
    # Chromium's helper processes can still write into the profile as it is removed
    with tempfile.TemporaryDirectory(prefix="nrm-chromium-", ignore_cleanup_errors=True) as tmp:
        proc, port = _start(exe, Path(tmp))
        try:
            cdp = _Cdp(_page_ws(port))
            try:
                _inspect(cdp, page, shot, res)
            finally:
                cdp.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return res


def _inspect(cdp: _Cdp, page: Path, shot: Path, res: CheckResult) -> None:
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.call(f"{domain}.enable")
    # only the file itself and inline data may load; anything else is blocked and reported
    cdp.call("Network.setBlockedURLs", urls=["http://*", "https://*", "ws://*", "wss://*",
                                             "ftp://*"])
    cdp.call("Emulation.setDeviceMetricsOverride", width=1200, height=900,
             deviceScaleFactor=1, mobile=False)
    cdp.call("Page.navigate", url=page.as_uri())
    cdp.wait_for("Page.loadEventFired")
    time.sleep(0.3)  # let late console messages arrive
    probe = json.loads(cdp.call("Runtime.evaluate", expression=_PROBE,
                                returnByValue=True)["result"]["value"])
    res.images = len(probe["images"])
    res.links = len(probe["links"])
    res.tables = len(probe["tables"])
    for img in probe["images"]:
        if not img["complete"] or img["w"] == 0 or img["h"] == 0:
            res.problems.append(f"image {img['alt'] or img['src']!r} did not decode "
                                f"({img['w']}x{img['h']})")
    for link in probe["links"]:
        if not link["ok"]:
            res.problems.append(f"in-page link {link['href']} points nowhere")
    for t in probe["tables"]:
        if not t["header"]:
            res.problems.append(f"table {t['index']} has no header row")
        if not t["captioned"]:
            res.problems.append(f"table {t['index']} has no 'Table N.' caption "
                                f"(text before it: {t['caption']!r})")
    if not probe["printRules"]:
        res.problems.append("no print stylesheet (@media print)")
    # drain events seen so far (console, exceptions, network)
    cdp.call("Runtime.evaluate", expression="1")
    for ev in cdp.events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            res.console.append(text)
            res.problems.append(f"console error: {text[:200]}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            res.problems.append(f"uncaught exception: {d.get('text')} "
                                f"{(d.get('exception') or {}).get('description', '')[:200]}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            res.problems.append(f"browser error: {p['entry'].get('text', '')[:200]}")
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                res.problems.append(f"the page requested {url[:120]} (not self-contained)")
    # full-page screenshot at desktop width
    height = min(int(probe["height"]), 60000)
    cdp.call("Emulation.setDeviceMetricsOverride", width=1200, height=max(height, 900),
             deviceScaleFactor=1, mobile=False)
    data = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    from nrm.atomic import atomic_write_bytes

    res.screenshot = atomic_write_bytes(shot, base64.b64decode(data))
    # a narrow screen: nothing may push the page sideways
    cdp.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2,
             mobile=True)
    narrow = json.loads(cdp.call("Runtime.evaluate", returnByValue=True, expression=(
        "JSON.stringify({sw: document.documentElement.scrollWidth, iw: window.innerWidth})"
    ))["result"]["value"])
    if narrow["sw"] > narrow["iw"] + 2:
        res.problems.append(f"at 390 px the page is {narrow['sw']} px wide (sideways scrolling)")
    phone = cdp.call("Page.captureScreenshot", format="png")["data"]
    res.narrow_screenshot = atomic_write_bytes(shot.with_name(f"{shot.stem}-narrow.png"),
                                               base64.b64decode(phone))
    pdf = cdp.call("Page.printToPDF", printBackground=False)["data"]
    if len(base64.b64decode(pdf)) < 1000:
        res.problems.append("printing gave an (almost) empty PDF")
