"""Measuring a page: time to first byte over HTTP, and time to a rendered page in headless Chromium.

- **TTFB**: an HTTP GET of the page's URL with the browser's session cookie (httpx, a kept-alive
  connection), from sending the request to the response's status line and headers (httpx returns them
  when the first bytes arrive); the body is then read in full (``total``). For MLflow's UI the page's
  URL is its single-page app's shell (``/mlflow/``): it carries no data, so the data call the page
  waits on (``data``: ``runs/search`` or ``get-history-bulk-interval``, as the UI sends it) is timed too.
- **Rendered**: Playwright drives Debian's Chromium (``--no-sandbox``), one browser context per page kind
  (its cache kept: a user who comes back; the first, cold load is reported apart). From ``about:blank``
  the page is opened; rendered = the later of (a) the first animation frame at which the page's *content
  predicate* holds (the table's rows including the newest job's, or the chart's drawn series) and (b) the
  end of the last network response before the network was quiet for 500 ms (no request in flight, as
  Playwright's ``networkidle``, but left out: MLflow's telemetry worker, whose script request Playwright never
  sees finish), both read in the page on the browser's clock (``performance.now()``, from the navigation's
  start; the 500 ms of quiet themselves are not counted).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

MARKER = "__benchRendered"
QUIET_S = 0.5
IGNORED = ("telemetry-worker",)  # requests that never finish in Playwright's eyes and carry nothing of the page
INIT_SCRIPT = """(() => {
  window.%(marker)s = null;
  const holds = () => { try { return Boolean(%(predicate)s); } catch (e) { return false; } };
  const check = () => { if (holds()) { window.%(marker)s = performance.now(); } else { requestAnimationFrame(check); } };
  requestAnimationFrame(check);
})();"""
SETTLED = f"""() => {{
  const ends = performance.getEntriesByType('resource').map(e => e.responseEnd);
  const nav = performance.getEntriesByType('navigation')[0];
  // a request's time: from its start to its response's end (a navigation entry's own duration runs to its load event)
  const timed = [...(nav ? [nav] : []), ...performance.getEntriesByType('resource')].map(e => [e.name, e.responseEnd - e.startTime]);
  const slowest = timed.reduce((a, e) => (e[1] > a[1] ? e : a), ['', -1]);
  return {{rendered: window.{MARKER}, network: Math.max(nav ? nav.responseEnd : 0, ...ends), requests: ends.length + 1,
           slowest: [slowest[0] ? new URL(slowest[0]).pathname : '', Math.max(0, slowest[1])]}};
}}"""


@dataclass
class PageKind:
    """One page to measure: where, what must be on it, and the HTTP call its data comes from."""

    label: str  # as printed
    url: str
    predicate: str  # a JavaScript expression that holds once the page shows its content
    data: tuple[str, str, dict[str, Any] | None] | None = None  # (method, url, JSON body): MLflow's data call


@dataclass
class Figures:
    ttfb: list[float] = field(default_factory=list)  # seconds
    total: list[float] = field(default_factory=list)
    data: list[float] = field(default_factory=list)
    rendered: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)  # goto → settled, from Python (includes the 500 ms of quiet)
    server_cpu: list[float] = field(default_factory=list)  # the server's (and its MLflow child's) CPU seconds per load
    cold: float | None = None  # the first load in a fresh context
    requests: int = 0
    slowest: dict[str, list[float]] = field(default_factory=dict)  # the slowest request of each load: its durations
    never_idle: int = 0  # loads whose network was never quiet within the time allowed

    def drop_warm_up(self) -> None:
        """The first round's HTTP figures (a cold connection and server caches) are not counted."""
        for values in (self.ttfb, self.total, self.data):
            del values[:1]

    def slowest_request(self) -> str:
        """The request that was most often the slowest of a load, with its median duration."""
        if not self.slowest:
            return "—"
        path, durations = max(self.slowest.items(), key=lambda item: len(item[1]))
        return f"{path[:60]} ({statistics.median(durations) * 1000:.0f} ms)"

    @staticmethod
    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")


def session_cookie(url: str, token: str) -> str:
    """Signs in at /login as a browser does; the session cookie's value."""
    with httpx.Client(timeout=30) as client:
        answer = client.post(f"{url}/login", data={"token": token, "next": "/ui/jobs"})
        cookie = answer.cookies.get("kiln_session")
    if not cookie:
        raise SystemExit(f"signing in at {url}/login gave no session cookie (HTTP {answer.status_code})")
    return cookie


def http_client(url: str, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=url, cookies={"kiln_session": cookie}, timeout=60)


def status_of(client: httpx.Client, url: str) -> int:
    return client.get(url).status_code


def time_http(client: httpx.Client, kind: PageKind, figures: Figures) -> None:
    started = time.perf_counter()
    with client.stream("GET", kind.url) as answer:
        first = time.perf_counter()
        answer.read()
    done = time.perf_counter()
    if answer.status_code != 200:
        raise SystemExit(f"GET {kind.url}: HTTP {answer.status_code}")
    figures.ttfb.append(first - started)
    figures.total.append(done - started)
    if kind.data is not None:
        method, url, body = kind.data
        started = time.perf_counter()
        answer = client.request(method, url, json=body)
        figures.data.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"{method} {url}: HTTP {answer.status_code}: {answer.text[:300]}")


class Browser:
    """Chromium with one context per page kind, each with the session cookie."""

    def __init__(self, executable: str, url: str, cookie: str, timeout_s: float) -> None:
        from playwright.sync_api import sync_playwright

        self.url, self.cookie, self.timeout_ms = url, cookie, timeout_s * 1000
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        self._pages: dict[str, Any] = {}
        self._in_flight: set[int] = set()
        self._last_activity = 0.0

    def page_for(self, kind: PageKind) -> Any:
        if kind.label not in self._pages:
            context = self._browser.new_context(base_url=self.url, viewport={"width": 1360, "height": 860})
            context.add_cookies([{"name": "kiln_session", "value": self.cookie, "url": self.url}])
            context.add_init_script(INIT_SCRIPT % {"marker": MARKER, "predicate": kind.predicate})
            context.set_default_timeout(self.timeout_ms)
            page = context.new_page()
            page.on("request", self._started)
            page.on("requestfinished", self._ended)
            page.on("requestfailed", self._ended)
            self._pages[kind.label] = page
        return self._pages[kind.label]

    def _started(self, request: Any) -> None:
        if not any(part in request.url for part in IGNORED):
            self._in_flight.add(id(request))
        self._last_activity = time.perf_counter()

    def _ended(self, request: Any) -> None:
        self._in_flight.discard(id(request))
        self._last_activity = time.perf_counter()

    def _wait_quiet(self, page: Any, limit_s: float) -> bool:
        """Until no request has been in flight for QUIET_S (False if that never happened within limit_s)."""
        deadline = time.perf_counter() + limit_s
        while time.perf_counter() < deadline:
            page.wait_for_timeout(50)  # Playwright delivers the request events while it waits
            if not self._in_flight and time.perf_counter() - self._last_activity >= QUIET_S:
                return True
        return False

    def load(self, kind: PageKind, figures: Figures, cpu: Any = None) -> float:
        """Opens the page once; its rendered time in seconds (recorded in ``figures`` unless it is the first)."""
        page = self.page_for(kind)
        page.goto("about:blank")
        self._in_flight.clear()
        before = cpu() if cpu else 0.0
        started = time.perf_counter()
        page.goto(kind.url, wait_until="commit")
        page.wait_for_function(f"() => window.{MARKER} !== null")
        if not self._wait_quiet(page, min(self.timeout_ms / 1000, 15)):
            figures.never_idle += 1  # a page that keeps polling: counted, and its responses so far are taken
        settled = page.evaluate(SETTLED)
        wall = time.perf_counter() - started
        rendered = max(settled["rendered"], settled["network"]) / 1000
        if figures.cold is None:
            figures.cold = rendered
            return rendered
        figures.rendered.append(rendered)
        figures.wall.append(wall)
        figures.requests = settled["requests"]
        path, duration = settled["slowest"]
        figures.slowest.setdefault(path, []).append(duration / 1000)
        if cpu:
            figures.server_cpu.append(cpu() - before)
        return rendered

    def screenshot(self, kind: PageKind, path: str) -> None:
        self.page_for(kind).screenshot(path=path)

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()
