"""End to end in a real headless Chromium: start `rag web`, upload a PDF, ask, see the cited answer and page.

Uses Debian's ``chromium`` (``/usr/bin/chromium``) driven by Playwright; nothing is downloaded. Skips when
Chromium or Playwright is missing. A screenshot of the finished page is saved in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.pdfs import make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ANSWER_TIMEOUT_MS = 420_000  # the first question loads the chat model; 2 cores shared with other work

PAGES = [
    "The Halvorsen Observatory operates the Zephyr-9 telescope on Mount Arvik, at an altitude of 2,400 metres. "
    "The primary mirror of the Zephyr-9 telescope has a diameter of 14 metres. "
    "The mirror was cast from borosilicate glass in 2019 and polished for eighteen months.",
    "Observing time on the Zephyr-9 telescope is allocated twice a year by a committee of nine astronomers. "
    "Each proposal is ranked by scientific merit and technical feasibility.",
]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    return CHROMIUM


@pytest.fixture
def web_url(tmp_path: Path):
    from tests.servers import ServerStartError, start_rag_web

    try:
        server = start_rag_web(tmp_path / "home")
    except ServerStartError as exc:
        pytest.fail(f"rag web did not start: {exc}")
    try:
        yield server.url
    finally:
        server.stop()
        if server.process.returncode not in (0, -15, None):
            print(server.log_tail())


@pytest.fixture
def page(chromium_path: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile: Chromium's --user-data-dir
            executable_path=chromium_path,
            headless=True,
            args=LAUNCH_FLAGS,
            viewport={"width": 1440, "height": 1100},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_upload_ask_and_see_the_cited_page(page, web_url: str, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "zephyr-telescope.pdf", PAGES, title="The Zephyr-9 Telescope")
    page.goto(web_url, wait_until="domcontentloaded")
    page.get_by_text("Ask your PDFs").first.wait_for(timeout=60_000)

    # upload through the sidebar and ingest
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator("input[type=file]").set_input_files(str(pdf))
    sidebar.get_by_role("button", name="Add 1 file to the library").click()
    sidebar.get_by_text("zephyr-telescope.pdf: added", exact=False).wait_for(timeout=180_000)
    assert sidebar.get_by_text("2 pages", exact=False).first.is_visible()

    # ask
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Which observatory operates the Zephyr-9 telescope?")
    box.press("Enter")

    answer = page.get_by_test_id("stChatMessage").last
    image = answer.get_by_test_id("stImage").locator("img").first
    image.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle(), timeout=30_000)

    sources = answer.get_by_role("tab")
    assert sources.count() >= 1
    assert "p. 1" in sources.first.inner_text()
    assert answer.get_by_text("Page 1 of zephyr-telescope.pdf").first.is_visible()
    assert answer.get_by_test_id("stAlertContentWarning").count() == 0, "the answerable question was refused"
    assert sidebar.get_by_text("Ask about").first.is_visible()  # the document picker, once there are documents

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)

    # the answer with its sources, as one HTML file that needs nothing from the network
    with page.expect_download(timeout=120_000) as download:
        answer.get_by_role("button", name="Download with sources").click()
    saved = tmp_path / "answer.html"
    download.value.save_as(str(saved))
    html = saved.read_text(encoding="utf-8")
    assert "Zephyr-9" in html and "<mark>" in html and "data:image/png;base64," in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html


def _ask_and_wait(page, question: str, messages: int):  # noqa: ANN001, ANN202
    """Ask ``question`` and wait until the chat holds ``messages`` messages and the last one is finished: it
    shows an alert (an error, or a refusal) or the caption under a finished answer."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        """n => { const all = document.querySelectorAll('[data-testid="stChatMessage"]');
                  if (all.length < n) return false;
                  const last = all[all.length - 1];
                  return !!last.querySelector('[data-testid="stAlertContainer"], [data-testid="stCaptionContainer"]'); }""",
        arg=messages, timeout=ANSWER_TIMEOUT_MS,
    )
    return page.get_by_test_id("stChatMessage").last


def test_a_stopped_backend_shows_one_line_naming_it_and_the_next_question_works(page, outage, rag_home: Path) -> None:
    from tests.fixtures.outages import NAME, QUESTION, SETTING
    from tests.servers import start_rag_web

    backend, server, env = outage
    web = start_rag_web(rag_home, env=env)
    try:
        page.goto(web.url, wait_until="domcontentloaded")
        page.get_by_text("Ask your PDFs").first.wait_for(timeout=60_000)
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        failed = _ask_and_wait(page, QUESTION, 2)
        page.screenshot(path=str(ARTIFACTS / f"web-chat-{backend}-down.png"), full_page=True)
        errors = failed.get_by_test_id("stAlertContainer")
        assert errors.count() == 1, failed.inner_text()
        line = errors.first.get_by_test_id("stMarkdownContainer").inner_text().strip()  # without the icon's name
        assert "\n" not in line and NAME[backend] in line and SETTING[backend] in line, line
        assert "Traceback" not in page.content()

        server.start()
        answered = _ask_and_wait(page, QUESTION, 4)
        assert SETTING[backend] not in answered.inner_text(), answered.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"web-chat-{backend}-back.png"), full_page=True)
    finally:
        web.stop()

