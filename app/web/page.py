"""The web chat: ask your PDFs, read the answer with its sources, see the page, manage documents.

Run it with ``rag web`` (``streamlit run app/web/page.py`` on ``web_host:web_port``). Settings come from the
same place as the CLI's (``RAG_*`` variables, ``rag.toml``); the sidebar changes a few of them for the
current browser session only. Heavy parts (embedding model, stores, chat model) are built once per
process and shared by every session.

Text from documents and from the model is always escaped before Streamlit renders it as markdown
(``app.web.helpers.escape_markdown``); no raw HTML is ever rendered.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from llm.cpu_threads import configure_openmp

# This process writes answers with llama.cpp: the OpenMP settings go into the environment before anything
# loads the OpenMP runtime (the product's imports do: NLTK loads scikit-learn, which loads it).
configure_openmp(os.environ)

from app.web import helpers as h  # noqa: E402
from app.evidence import citation_evidence  # noqa: E402
from app.export import answer_html  # noqa: E402
from app.page_images import PDFIUM_LOCK, PageImage, page_contains, render_page  # noqa: E402
from app.web.uploads import save_upload, settle  # noqa: E402
from app.workspace import Workspace  # noqa: E402
from ingest.pipeline import IngestEvent  # noqa: E402
from rag.answer.conversation import Conversation  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.types import Mode, TextLine  # noqa: E402

log = logging.getLogger(__name__)

PAGE_WIDTH_PX = 900
MODES = tuple(m.value for m in Mode)
MODE_LABELS = {Mode.HYBRID.value: "Hybrid", Mode.KEYWORD.value: "Keyword", Mode.DENSE.value: "Semantic"}
MODE_HELP = "Hybrid combines keyword (BM25) and semantic (embedding) search; usually the best."


# --- process-wide resources -----------------------------------------------------------------------
def _settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def _shared_workspace(key: str, _settings: Settings):  # noqa: ANN202 - app.workspace.Workspace
    """One workspace per configuration and process: its models and stores are loaded once."""
    log.info("web: opening workspace %s", _settings.home)
    return Workspace(_settings)


@st.cache_resource(show_spinner=False)
def _answer_lock() -> threading.Lock:
    """The chat model answers one question at a time (llama.cpp is not thread-safe)."""
    return threading.Lock()


@st.cache_data(show_spinner=False, max_entries=256)
def _page_image(path: str, modified_ns: int, page: int, highlight: str | None, ocr_lines: tuple) -> PageImage:
    lines = [TextLine(*line) for line in ocr_lines]  # plain tuples in, so Streamlit hashes the arguments simply
    return render_page(Path(path), page, width_px=PAGE_WIDTH_PX, highlight=highlight, ocr_lines=lines)


@st.cache_data(show_spinner=False, max_entries=1024)
def _page_has(path: str, modified_ns: int, page: int, text: str, ocr_lines: tuple) -> bool:
    return page_contains(Path(path), page, text, ocr_lines=[TextLine(*line) for line in ocr_lines])


# --- session state --------------------------------------------------------------------------------
def _state() -> Any:
    state = st.session_state
    state.setdefault("messages", [])  # {"role", "text", and "answer", "error" or "stopped"}
    state.setdefault("conversation", None)
    state.setdefault("uploader_round", 0)
    state.setdefault("ingest_lines", [])
    return state


def _repair_history() -> None:
    """A question left without an answer was stopped (or replaced by a new run) before it was answered."""
    messages = st.session_state["messages"]
    if messages and messages[-1]["role"] == "user":
        messages.append({"role": "assistant", "text": "", "stopped": True})


def _new_conversation() -> None:
    st.session_state["messages"] = []
    st.session_state["conversation"] = None
    st.session_state["ask_docs"] = []  # a new conversation asks every document again


def _overrides(settings: Settings) -> dict[str, Any]:
    """The settings this session changed in the sidebar (defaults come from the configuration)."""
    state = st.session_state
    overrides: dict[str, Any] = {}
    mode = state.get("opt_mode", settings.retrieval_mode)
    if mode != settings.retrieval_mode:
        overrides["retrieval_mode"] = mode
    top_k = state.get("opt_top_k", settings.top_k)
    if top_k != settings.top_k:
        overrides["top_k"] = int(top_k)
    rerank_on = state.get("opt_rerank", settings.reranker != "none")
    if rerank_on != (settings.reranker != "none"):
        overrides["reranker"] = "auto" if rerank_on else "none"
    temperature = state.get("opt_temperature", settings.temperature)
    if abs(float(temperature) - settings.temperature) > 1e-9:
        overrides["temperature"] = float(temperature)
    return overrides


def _workspace(settings: Settings):  # noqa: ANN202
    shared = _shared_workspace(settings.model_dump_json(), settings)
    overrides = _overrides(settings)
    if not overrides:
        return shared
    return _session_workspace(settings.model_dump_json(), tuple(sorted(overrides.items())), shared)


@st.cache_resource(show_spinner=False, max_entries=16)
def _session_workspace(key: str, overrides: tuple, _shared):  # noqa: ANN001, ANN202
    """A workspace with this session's sidebar settings that shares the process's heavy parts."""
    return _shared.with_settings(**dict(overrides))


# --- sidebar: documents ---------------------------------------------------------------------------
def _sidebar_upload(workspace, settings: Settings) -> None:  # noqa: ANN001
    state = _state()
    limit = h.upload_limit_mb(settings.max_upload_mb)
    files = st.file_uploader(
        "Add PDFs",
        type=["pdf"],
        accept_multiple_files=True,
        key=f"uploader_{state['uploader_round']}",
        help=h.escape_markdown(
            f"Up to {h.format_mb(settings.max_upload_mb)} MB per file. A file with the name of an earlier upload "
            f"replaces it. Files are kept in {settings.uploads_path}."
        ),
        max_upload_size=limit,
    )
    if files:
        label = f"Add {h.plural(len(files), 'file')} to the library"
        if st.button(label, type="primary", icon=":material/upload_file:", key="ingest", width="stretch"):
            state["ingest_lines"] = _ingest_uploads(workspace, settings, files)
            state["uploader_round"] += 1  # a fresh, empty uploader
            st.rerun()
    for line in state["ingest_lines"]:
        _show_line(line)


def _show_line(line: h.ResultLine) -> None:
    icons = {"success": ":material/check_circle:", "info": ":material/info:", "warning": ":material/warning:", "error": ":material/error:"}
    show = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[line.level]
    show(h.escape_markdown(line.text), icon=icons[line.level])


def _ingest_uploads(workspace, settings: Settings, files: list) -> list[h.ResultLine]:  # noqa: ANN001
    """Save the uploads under home/uploads and ingest them, with a progress bar; one line per file."""

    lines: list[h.ResultLine] = []
    saved = []
    for uploaded in files:
        name = h.safe_upload_name(uploaded.name)
        problem = h.upload_size_error(name, uploaded.size, settings.max_upload_mb)
        if problem:
            lines.append(h.ResultLine("error", problem))
            continue
        if any(s.path.name == name for s in saved):
            lines.append(h.ResultLine("info", f"{name}: chosen twice; added once"))
            continue
        saved.append(save_upload(settings.uploads_path, uploaded.name, uploaded.getvalue()))
    if not saved:
        return lines

    progress = st.progress(0.0, text="Loading the embedding model…")

    def on_event(event: IngestEvent) -> None:
        if event.progress is not None:
            progress.progress(event.progress.fraction, text=h.escape_markdown(h.ingest_progress_text(event)))

    statuses: dict[str, str] = {}
    try:
        with PDFIUM_LOCK:  # pdfium is not thread-safe: no page pictures while reading PDFs
            report = workspace.ingest([s.path for s in saved], on_event=on_event)
        statuses = {str(Path(r.path).resolve()): r.status for r in report.results}
    except RagError as exc:
        lines.append(h.ResultLine("error", str(exc)))
        return lines
    finally:
        progress.empty()
        for upload in saved:
            settle(upload, statuses.get(str(upload.path.resolve())))
    lines.extend(h.describe_result(result) for result in report.results)
    if report.aborted:
        lines.append(h.ResultLine("error", f"stopped: {report.aborted}; add the files again when it is back"))
    return lines


def _sidebar_documents(workspace, settings: Settings) -> None:  # noqa: ANN001
    try:
        documents = workspace.documents()
    except RagError as exc:
        st.error(h.escape_markdown(str(exc)))
        return
    st.subheader(f"Library · {len(documents)}" if documents else "Library", anchor=False)
    if not documents:
        st.caption("No documents yet. Add PDFs above.")
        return
    for record in documents:
        with st.container(border=True):
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"**{h.escape_markdown(record.title or record.file_name)}**")
            text.caption(
                h.escape_markdown(record.file_name)
                + "  \n"
                + h.escape_markdown(
                    f"{h.plural(record.pages, 'page')} · {h.tables_note(record.reading)}{h.plural(record.chunks, 'chunk')} · "
                    f"{h.format_date(record.ingested_at)}"
                )
            )
            if button.button("", icon=":material/delete:", key=f"remove_{record.doc_id}", help=f"Remove {record.file_name}"):
                _remove(workspace, settings, record)
                st.rerun()


def _remove(workspace, settings: Settings, record) -> None:  # noqa: ANN001
    try:
        workspace.remove(record.doc_id)
    except RagError as exc:
        st.session_state["ingest_lines"] = [h.ResultLine("error", f"{record.file_name}: {exc}")]
        return
    path = Path(record.path)
    # Our own copy of an upload goes too, unless another document still points at it.
    if h.is_inside(path, settings.uploads_path) and not any(d.path == record.path for d in workspace.documents()):
        path.unlink(missing_ok=True)
    st.session_state["ingest_lines"] = [h.ResultLine("info", f"{record.file_name}: removed")]


def _sidebar_scope(workspace) -> None:  # noqa: ANN001
    """Which documents this conversation asks: several at once, every document when none is picked."""
    try:
        documents = workspace.documents()
    except RagError:
        return  # _sidebar_documents shows the error
    if not documents:
        return
    names = {d.doc_id: h.document_label(d.title, d.file_name) for d in documents}
    state = st.session_state
    state["ask_docs"] = [doc_id for doc_id in state.get("ask_docs", []) if doc_id in names]  # removed ones go
    st.multiselect(
        "Ask about",
        list(names),
        format_func=names.__getitem__,
        key="ask_docs",
        placeholder="All documents",
        help="Answers come only from the documents picked here (all of them when none is). "
             "The choice belongs to this conversation; a new conversation asks every document again.",
    )


def _scope(workspace) -> list | None:  # noqa: ANN001 - list[rag.types.DocumentRecord]
    chosen = set(st.session_state.get("ask_docs") or [])
    if not chosen:
        return None
    return [d for d in workspace.documents() if d.doc_id in chosen] or None


# --- sidebar: settings ----------------------------------------------------------------------------
def _sidebar_settings(settings: Settings) -> None:
    with st.expander("Answer settings", icon=":material/tune:"):
        st.radio(
            "Search",
            MODES,
            index=MODES.index(settings.retrieval_mode),
            format_func=lambda m: MODE_LABELS[m],
            horizontal=True,
            key="opt_mode",
            help=MODE_HELP,
        )
        st.slider("Passages given to the model", 1, max(20, settings.top_k), value=settings.top_k, key="opt_top_k")
        st.toggle(
            "Rerank with a cross-encoder",
            value=settings.reranker != "none",
            key="opt_rerank",
            help="Re-scores the best candidates with a cross-encoder when one is installed.",
        )
        st.slider(
            "Temperature",
            0.0,
            max(1.5, settings.temperature),
            value=float(settings.temperature),
            step=0.05,
            key="opt_temperature",
            help="0 gives the same answer every time; higher values vary the wording.",
        )
    with st.expander("In use", icon=":material/memory:"):
        for what, which in h.describe_backends(settings):
            st.caption(f"**{h.escape_markdown(what)}** · {h.escape_markdown(which)}")
        st.caption(f"**Data folder** · {h.escape_markdown(str(settings.home))}")
        for note in st.session_state.get("notes", []):
            st.caption(":material/info: " + h.escape_markdown(note))


# --- main: the chat -------------------------------------------------------------------------------
def _render_answer(workspace, answer, key: str) -> None:  # noqa: ANN001 - rag.answer.Answer
    if answer.docs:
        st.caption(":material/filter_alt: " + h.escape_markdown("Asked in " + ", ".join(d.file_name for d in answer.docs)))
    if answer.refused:
        st.warning(h.escape_markdown(answer.answer), icon=":material/search_off:", title="Not in your documents")
        if answer.reason:
            st.caption(h.escape_markdown(f"Why: {answer.reason}"))
        _download(workspace, answer, key)
        return
    st.markdown(h.escape_markdown(answer.answer))
    unsupported = h.unsupported_note(answer)
    if unsupported:
        st.caption(":material/warning: " + h.escape_markdown(unsupported))
    timing = h.describe_timings(answer.timings)
    if timing:
        st.caption(h.escape_markdown(timing))
    if answer.citations:
        _render_sources(workspace, answer, key)
    _download(workspace, answer, key)


def _render_sources(workspace, answer, key: str) -> None:  # noqa: ANN001
    citations = list(answer.citations)
    labels = [h.escape_markdown(f"[{c.n}] {_short(c.title or c.file or c.doc)} · {h.format_pages(c.pages)}") for c in citations]
    st.markdown("**Sources**")
    for tab, citation in zip(st.tabs(labels, key=f"sources_{key}"), citations):
        with tab:
            _render_citation(workspace, answer.answer, citation)


def _short(title: str, limit: int = 32) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _render_cached(path: Path, page: int, *, highlight: str | None = None, ocr_lines: tuple = ()) -> PageImage:
    """The page picture, cached per file version (an OSError for a vanished file is evidence's to report)."""
    return _page_image(str(path), path.stat().st_mtime_ns, page, highlight, _plain_lines(ocr_lines))


def _contains_cached(path: Path, page: int, text: str, *, ocr_lines: tuple = ()) -> bool:
    return _page_has(str(path), path.stat().st_mtime_ns, page, text, _plain_lines(ocr_lines))


def _plain_lines(lines) -> tuple:  # noqa: ANN001 - Sequence[TextLine]
    return tuple((l.text, l.left, l.bottom, l.right, l.top) for l in lines)


def _render_citation(workspace, answer_text: str, citation) -> None:  # noqa: ANN001
    evidence = citation_evidence(workspace.catalog, answer_text, citation, render=_render_cached,
                                 contains=_contains_cached)
    text_column, page_column = st.columns([1, 1], gap="medium")
    with text_column:
        st.markdown(f"**{h.escape_markdown(evidence.title)}**")
        st.caption(h.escape_markdown(f"{evidence.file_name} · {evidence.pages_label}"))
        with st.container(border=True):
            st.markdown(h.highlighted_markdown(evidence.passage.text, evidence.passage.span))
    with page_column:
        if evidence.image is None:
            st.caption(h.escape_markdown(evidence.note))
            return
        caption = h.escape_markdown(evidence.page_label)
        if evidence.image.focus is None:
            st.image(evidence.image.page, caption=caption, width="stretch")
            return
        st.image(evidence.image.focus, caption=caption, width="stretch")
        with st.expander("Whole page", icon=":material/description:"):
            st.image(evidence.image.page, width="stretch")


def _download(workspace, answer, key: str) -> None:  # noqa: ANN001
    """The answer with its sources and cited pages as one self-contained HTML file, built when clicked."""
    st.download_button(
        "Download with sources",
        key=f"export_{key}",
        data=lambda: answer_html(answer, workspace.catalog, render=_render_cached, contains=_contains_cached),
        file_name="answer.html",
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",
        help="The question, the answer and every cited passage with its page, in one HTML file that opens offline.",
    )


AVATARS = {"user": ":material/person:", "assistant": ":material/menu_book:"}


def _ask(workspace, question: str) -> None:  # noqa: ANN001

    state = _state()
    if state["conversation"] is None:
        state["conversation"] = Conversation()
    state["messages"].append({"role": "user", "text": question})
    with st.chat_message("user", avatar=AVATARS["user"]):
        st.markdown(h.escape_markdown(question))
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        slot = st.empty()
        started = time.perf_counter()
        stream = None
        try:
            with _answer_lock():
                with slot.container():
                    with st.spinner("Searching your documents…", show_time=True):
                        stream = workspace.ask(question, conversation=state["conversation"], docs=_scope(workspace))
                        first = next(stream, None)
                    pieces = [first] if first is not None else []
                    st.write_stream(h.escape_stream(_chain(pieces, stream)))
                answer = stream.answer
        except RagError as exc:
            slot.error(h.escape_markdown(str(exc)), icon=":material/error:")
            state["messages"].append({"role": "assistant", "text": "", "error": str(exc)})
            return
        except BaseException:  # stopped by the user, or replaced by a new run: keep what was said
            partial = stream.text if stream is not None else ""
            if stream is not None:
                stream.close()
            state["messages"].append({"role": "assistant", "text": partial, "stopped": True})
            raise
        log.info("web: answered in %.2fs", time.perf_counter() - started)
        state["messages"].append({"role": "assistant", "text": answer.answer, "answer": answer})
        state["notes"] = list(answer.notes)
        with slot.container():
            _render_answer(workspace, answer, key=str(len(state["messages"])))


def _chain(first: list[str], rest):  # noqa: ANN001, ANN202
    yield from first
    yield from rest


def _render_history(workspace) -> None:  # noqa: ANN001
    for index, message in enumerate(st.session_state["messages"]):
        with st.chat_message(message["role"], avatar=AVATARS[message["role"]]):
            if message.get("error"):
                st.error(h.escape_markdown(message["error"]), icon=":material/error:")
            elif message.get("answer") is not None:
                _render_answer(workspace, message["answer"], key=str(index + 1))
            elif message.get("stopped"):
                if message["text"]:
                    st.markdown(h.escape_markdown(message["text"]))
                st.caption(":material/stop_circle: Stopped before the answer was finished; it has no sources.")
            else:
                st.markdown(h.escape_markdown(message["text"]))


def main() -> None:
    st.set_page_config(page_title="Ask your PDFs", page_icon=":material/menu_book:", layout="wide")
    try:
        settings = _settings()
    except RagError as exc:
        st.error(h.escape_markdown(str(exc)))
        st.stop()
    _state()
    _repair_history()
    workspace = _workspace(settings)

    with st.sidebar:
        st.header("Your documents", anchor=False)
        _sidebar_upload(workspace, settings)
        _sidebar_scope(workspace)
        _sidebar_documents(workspace, settings)
        st.divider()
        _sidebar_settings(settings)

    title, button = st.columns([5, 1], vertical_alignment="bottom")
    title.title("Ask your PDFs", anchor=False)
    title.caption("Answers come only from your documents, with the page they come from — or an honest “not in your documents”.")
    button.button("New conversation", icon=":material/add_comment:", on_click=_new_conversation, key="new_conversation", width="stretch")

    _render_history(workspace)
    if not st.session_state["messages"] and not workspace.documents():
        st.info("Add PDFs in the sidebar, then ask a question about them.", icon=":material/upload_file:")
    question = st.chat_input("Ask a question about your documents", submit_mode="stop", max_chars=4000)
    if question and question.strip():
        _ask(workspace, question.strip())


main()
