"""Print the HTML report to PDF or PNG with headless chromium, with the network shut off.

Playwright's sync API drives the system's chromium (Debian: ``apt-get install
--no-install-recommends chromium``; set ``HARMMAP_CHROMIUM`` for another path;
never ``playwright install``).  Every request whose URL is not ``file:`` or
``data:`` is aborted and recorded, web sockets are refused, DNS resolves nothing,
and the profile is a fresh temporary directory, so rendering works on an
air-gapped machine and proves the report needs nothing from outside.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harmmap.errors import InputFileError, ReportError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
A4_VIEWPORT = {"width": 1000, "height": 1414}  # A4 proportions: the PNG of "the first page"
LOCAL_SCHEMES = ("file:", "data:")
_INSTALL_HINT = ("install Debian's chromium (apt-get install --no-install-recommends chromium) or set "
                 "HARMMAP_CHROMIUM to a chromium binary; never run `playwright install`")


@dataclass(frozen=True, slots=True)
class RenderReport:
    """What one render produced.

    Attributes
    ----------
    path : pathlib.Path
        The file written.
    bytes : int
        Its size.
    blocked_requests : tuple of str
        URLs the page tried to fetch from outside (aborted); empty for a clean report.
    seconds : float
        Time to load the page and write the file (browser start-up excluded).
    """

    path: Path
    bytes: int
    blocked_requests: tuple[str, ...]
    seconds: float


def find_chromium(executable: str | os.PathLike | None = None) -> Path:
    """Return the chromium to use: ``executable``, else ``$HARMMAP_CHROMIUM``, else /usr/bin/chromium.

    Raises
    ------
    ReportError
        When that file does not exist or is not executable.
    """
    path = Path(executable or os.environ.get("HARMMAP_CHROMIUM") or DEFAULT_CHROMIUM)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ReportError("headless chromium was not found", given=str(path), fix=_INSTALL_HINT)
    return path


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise ReportError("the playwright package is not installed", given=str(error),
                          fix="pip install playwright (then " + _INSTALL_HINT + ")") from error
    return sync_playwright


def _file_url(html_path: str | os.PathLike) -> str:
    path = Path(html_path).resolve()
    if not path.is_file():
        raise InputFileError("the HTML report to render does not exist", given=str(path),
                             fix="write it first with `harmmap report assessment --out FILE.html`")
    return path.as_uri()


class ReportBrowser:
    """One offline headless chromium for rendering several pages; use it as a context manager.

    Parameters
    ----------
    executable : path, optional
        Chromium binary (default: see :func:`find_chromium`).
    """

    def __init__(self, executable: str | os.PathLike | None = None):
        self.executable = find_chromium(executable)
        self._playwright = None
        self._context = None
        self._profile = None

    def __enter__(self) -> ReportBrowser:
        sync_playwright = _sync_playwright()
        self._profile = tempfile.mkdtemp(prefix="harmmap-chromium-")
        self._playwright = sync_playwright().start()
        try:
            self._context = self._playwright.chromium.launch_persistent_context(
                self._profile, executable_path=str(self.executable), headless=True,
                args=list(CHROMIUM_ARGS), viewport=A4_VIEWPORT, accept_downloads=False,
                service_workers="block")
        except Exception as error:
            self.close()
            raise ReportError("headless chromium failed to start", given=str(error).splitlines()[0],
                              fix=_INSTALL_HINT) from error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close chromium and delete its temporary profile."""
        if self._context is not None:
            self._context.close()
        if self._playwright is not None:
            self._playwright.stop()
        self._context = self._playwright = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @contextmanager
    def open(self, html_path: str | os.PathLike) -> Iterator[tuple[object, list[str]]]:
        """Load a local HTML file; yield ``(page, blocked)`` where ``blocked`` lists aborted URLs."""
        if self._context is None:
            raise ReportError("the browser is not running", fix="use `with ReportBrowser() as browser:`")
        url = _file_url(html_path)
        blocked: list[str] = []
        page = self._context.new_page()

        def guard(route) -> None:
            if route.request.url.startswith(LOCAL_SCHEMES):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort("blockedbyclient")

        def refuse_socket(socket) -> None:
            blocked.append(socket.url)
            socket.close()

        page.route("**/*", guard)
        page.route_web_socket("**/*", refuse_socket)
        try:
            try:
                page.goto(url, wait_until="load")
                page.evaluate("document.fonts.ready.then(() => true)")
            except Exception as error:  # playwright's Error and TimeoutError
                raise ReportError("chromium could not load the report", given=str(error).splitlines()[0],
                                  fix="open the HTML file in a browser to see what fails") from error
            yield page, blocked
        finally:
            page.close()

    def render_pdf(self, html_path: str | os.PathLike, pdf_path: str | os.PathLike) -> RenderReport:
        """Print the page to an A4 PDF (page size, margins and running heads from its CSS)."""
        start = time.perf_counter()
        with self.open(html_path) as (page, blocked):
            page.pdf(path=str(pdf_path), prefer_css_page_size=True, print_background=True)
        return _report(pdf_path, blocked, start)

    def render_png(self, html_path: str | os.PathLike, png_path: str | os.PathLike, *,
                   full_page: bool = False) -> RenderReport:
        """Screenshot the page: the first A4-proportioned screen (1000 x 1414 px), or all of it."""
        start = time.perf_counter()
        with self.open(html_path) as (page, blocked):
            page.screenshot(path=str(png_path), full_page=full_page)
        return _report(png_path, blocked, start)


def _report(path: str | os.PathLike, blocked: list[str], start: float) -> RenderReport:
    path = Path(path)
    return RenderReport(path, path.stat().st_size, tuple(blocked), time.perf_counter() - start)


def render_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike, *,
               executable: str | os.PathLike | None = None) -> RenderReport:
    """Print an HTML report to A4 PDF in offline headless chromium (starts and stops a browser)."""
    with ReportBrowser(executable) as browser:
        return browser.render_pdf(html_path, pdf_path)


def render_png(html_path: str | os.PathLike, png_path: str | os.PathLike, *, full_page: bool = False,
               executable: str | os.PathLike | None = None) -> RenderReport:
    """Screenshot an HTML report in offline headless chromium (starts and stops a browser)."""
    with ReportBrowser(executable) as browser:
        return browser.render_png(html_path, png_path, full_page=full_page)
