"""The web chat driven by Streamlit's AppTest, with the real embedder, stores and default chat model.

One behaviour per test: asking shows an answer with its sources, an unanswerable question shows the
refusal, an upload ingests, a removed document stops being cited. The script runs in this process, so
its models are loaded once (``st.cache_resource``) and shared by every test here.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from rag.types import doc_id_for
from tests.fixtures.pdfs import make_pdf

pytestmark = pytest.mark.slow

WEB = Path(__file__).resolve().parents[2] / "app" / "web" / "page.py"
TIMEOUT = 300  # seconds a single script run may take (loading models on 2 shared cores)

TELESCOPE = [
    "The Halvorsen Observatory operates the Zephyr-9 telescope on Mount Arvik. "
    "The primary mirror of the Zephyr-9 telescope has a diameter of 14 metres. "
    "The mirror was cast from borosilicate glass in 2019.",
    "Observing time on the Zephyr-9 telescope is allocated twice a year by a committee of nine astronomers. "
    "Each proposal is ranked by scientific merit and technical feasibility.",
]
BAKERY = [
    "The Lindqvist bakery opens at six in the morning. "
    "Its sourdough starter is fed with rye flour every evening. "
    "The bakery sells about four hundred loaves on a Saturday.",
]
ANSWERABLE = "Which observatory operates the Zephyr-9 telescope?"
UNANSWERABLE = "Who won the football world cup in 1998?"


@pytest.fixture
def app(rag_home: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh browser session on the web chat over an empty data folder."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    at = AppTest.from_file(str(WEB), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _pdf_bytes(tmp_path: Path, name: str, pages: list[str]) -> bytes:
    return make_pdf(tmp_path / name, pages).read_bytes()


def _upload(at, files: list[tuple[str, bytes]]):  # noqa: ANN001, ANN202
    at.sidebar.file_uploader[0].set_value([(name, data, "application/pdf") for name, data in files])
    at.run()
    ingest = [b for b in at.sidebar.button if b.key == "ingest"]
    assert ingest, "no ingest button after choosing files"
    ingest[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def _ask(at, question: str):  # noqa: ANN001, ANN202
    at.chat_input[0].set_value(question)
    at.run()
    assert not at.exception, at.exception
    return at


def _plain(markdown: str) -> str:
    """Markdown source as the reader sees it: the page escapes every punctuation character."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _texts(elements) -> list[str]:  # noqa: ANN001
    return [_plain(e.value) for e in elements]


def _sources(at) -> list[str]:  # noqa: ANN001
    return [_plain(tab.label) for tab in at.tabs]


def test_an_upload_is_ingested_and_listed_with_its_pages(app, tmp_path: Path, rag_home: Path) -> None:
    _upload(app, [("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE))])
    assert any("telescope" in s and "added" in s and "2 pages" in s for s in _texts(app.sidebar.success))
    assert (rag_home / "uploads" / "telescope.pdf").is_file()
    library = " ".join(_texts(app.sidebar.caption))
    assert "telescope" in library and "2 pages" in library


def test_a_broken_upload_gets_a_plain_error_and_the_others_still_ingest(app, tmp_path: Path, rag_home: Path) -> None:
    _upload(
        app,
        [
            ("broken.pdf", b"%PDF-1.7 this is not really a PDF"),
            ("bakery.pdf", _pdf_bytes(tmp_path, "b.pdf", BAKERY)),
        ],
    )
    assert any("broken" in s for s in _texts(app.sidebar.error))
    assert any("bakery" in s and "added" in s for s in _texts(app.sidebar.success))
    assert sorted(p.name for p in (rag_home / "uploads").iterdir()) == ["bakery.pdf"]


def test_an_upload_over_the_size_limit_is_refused_with_the_limit(
    rag_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    monkeypatch.setenv("RAG_MAX_UPLOAD_MB", "0.001")
    at = AppTest.from_file(str(WEB), default_timeout=TIMEOUT)
    at.run()
    _upload(at, [("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE))])
    errors = " ".join(_texts(at.sidebar.error))
    assert "telescope" in errors and "0.001 MB" in errors
    assert not (rag_home / "uploads" / "telescope.pdf").exists()


def test_asking_shows_an_answer_with_its_sources_and_the_page(app, tmp_path: Path) -> None:
    _upload(
        app,
        [
            ("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE)),
            ("bakery.pdf", _pdf_bytes(tmp_path, "b.pdf", BAKERY)),
        ],
    )
    _ask(app, ANSWERABLE)
    assistant = app.chat_message[-1]
    assert not assistant.warning, "the answerable question was refused"
    assert assistant.markdown[0].value.strip()
    sources = _sources(app)
    assert any("p. 1" in label for label in sources), sources
    assert len(assistant.image) >= 1, "no page picture under the answer"
    downloads = [e for e in assistant.get("download_button")]
    assert len(downloads) == 1, "no download button under the answer"


def test_an_unanswerable_question_shows_the_refusal_and_why(app, tmp_path: Path) -> None:
    _upload(app, [("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE))])
    _ask(app, UNANSWERABLE)
    assistant = app.chat_message[-1]
    assert assistant.warning, "the unanswerable question was not shown as a refusal"
    assert any(c.value.startswith("Why") for c in assistant.caption)
    assert not _sources(app)


def test_a_removed_document_stops_being_cited(app, tmp_path: Path, rag_home: Path) -> None:
    _upload(app, [("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE))])
    _ask(app, ANSWERABLE)
    assert "telescope.pdf" in " ".join(_texts(app.chat_message[-1].caption)), "the document was not cited"

    remove = [b for b in app.sidebar.button if b.key and b.key.startswith("remove_")]
    assert len(remove) == 1
    remove[0].click()
    app.run()
    assert not (rag_home / "uploads" / "telescope.pdf").exists()

    app.button(key="new_conversation").click()
    app.run()
    _ask(app, ANSWERABLE)
    assert "telescope.pdf" not in " ".join(_texts(app.chat_message[-1].caption)), "a removed document is still cited"
    assert not _sources(app)
    assert app.chat_message[-1].warning


def test_the_document_picker_restricts_the_conversation_until_a_new_one_starts(app, tmp_path: Path) -> None:
    bakery_pdf = _pdf_bytes(tmp_path, "b.pdf", BAKERY)
    _upload(app, [("telescope.pdf", _pdf_bytes(tmp_path, "t.pdf", TELESCOPE)), ("bakery.pdf", bakery_pdf)])
    picker = app.sidebar.multiselect(key="ask_docs")
    assert sorted(label.rsplit(" (", 1)[-1] for label in picker.options) == ["bakery.pdf)", "telescope.pdf)"]
    assert picker.value == []  # every document until some are picked
    bakery = doc_id_for(hashlib.sha256(bakery_pdf).hexdigest())
    picker.set_value([bakery])
    app.run()
    _ask(app, ANSWERABLE)  # the telescope is not in the bakery's document
    assistant = app.chat_message[-1]
    assert assistant.warning, "a question outside the picked document was answered"
    assert "Asked in bakery.pdf" in " ".join(_texts(assistant.caption))
    assert app.sidebar.multiselect(key="ask_docs").value == [bakery]  # kept for the conversation

    app.button(key="new_conversation").click()
    app.run()
    assert app.sidebar.multiselect(key="ask_docs").value == []
    _ask(app, ANSWERABLE)
    assert not app.chat_message[-1].warning
    assert "telescope.pdf" in " ".join(_texts(app.chat_message[-1].caption))
