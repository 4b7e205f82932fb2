"""The `rag` command line.

Each command imports the parts it needs inside its function: `rag --help`, `rag config` and `rag docs list`
then start without loading torch, Chroma or llama.cpp (the only reason for imports inside functions here).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from rag.errors import RagError, engine_errors
from rag.settings import Settings, load_settings, settings_markdown, settings_rows
from rag.types import Mode

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Grounded answers from your own PDFs, with page citations.")
docs_app = typer.Typer(no_args_is_help=True, help="List and remove ingested documents.")
app.add_typer(docs_app, name="docs")

console = Console()
errors = Console(stderr=True)
CLIENT_LOGGERS = ("elastic_transport", "elasticsearch", "chromadb", "httpx", "urllib3")
SHORT_ID = 8  # the id prefix `rag docs list` shows; --doc and `rag docs remove` take it
DOC_HELP = ("Only this document: id, id prefix, file name or a glob on file names (\"llama*.pdf\"); "
            "repeat for several.")


def _settings() -> Settings:
    return load_settings()


def _workspace():  # noqa: ANN202 - imported lazily so `rag --help` stays fast
    from app.workspace import Workspace

    return Workspace(_settings())


def _will_generate() -> None:
    """Commands that run llama.cpp say so before anything loads the OpenMP runtime (llm.cpu_threads)."""
    import os

    from llm.cpu_threads import configure_openmp

    configure_openmp(os.environ)


def _mode(value: str | None) -> Mode | None:
    """The --mode option as a retrieval mode (None: the setting)."""
    if value is None:
        return None
    try:
        return Mode.parse(value)
    except RagError:
        raise _fail(f"--mode must be {', '.join(m.value for m in Mode)}, not {value!r}") from None


def _scope(workspace, references: list[str] | None):  # noqa: ANN001, ANN202 - Workspace -> list[DocumentRecord]
    """The documents ``--doc`` names (None: all), announced on stderr."""
    chosen = workspace.select_documents(references or [])
    if chosen is not None:
        names = ", ".join(d.file_name for d in chosen)
        errors.print(f"[dim]in {len(chosen)} document{'s' if len(chosen) != 1 else ''}: {escape(names)}[/]",
                     highlight=False, soft_wrap=True)
    return chosen


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:  # a store that is down gets our one line, not the clients' retry warnings and tracebacks
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


# --- ingest ---------------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: list[str] = typer.Argument(..., help="PDF files, folders (searched recursively) or globs."),
    password: Optional[str] = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    watch: bool = typer.Option(
        False, "--watch", help="Then keep the library in step with the folders until Ctrl-C: new and changed "
        "PDFs ingested, deleted ones removed, moved ones recognised."),
    settle: float = typer.Option(
        2.0, "--settle", min=0.0, help="With --watch: seconds a file must stay unchanged before it is read."),
    poll: Optional[float] = typer.Option(
        None, "--poll", min=0.1, help="With --watch: look every N seconds instead of waiting for file events "
        "(network drives that send none)."),
    parse_workers: Optional[int] = typer.Option(
        None, "--parse-workers", min=0, max=1, help="1: read PDFs in a worker process while this one embeds; "
        "0: read them in this process (one core, little memory, or debugging the reader). Default: RAG_PARSE_WORKERS."),
) -> None:
    """Read, chunk and index PDFs. Unchanged files are skipped; changed files replace their old version."""
    if watch:
        _watch(paths, password, settle, poll, parse_workers)
        return
    from ingest.discover import discover

    files, unmatched = discover(paths)
    for argument in unmatched:
        errors.print(f"[yellow]warning:[/] no file matches {argument!r}", highlight=False)
    if not files:
        raise _fail("nothing to ingest", 1)
    workspace = _loaded_workspace()
    try:
        report = _ingest_batch(workspace, files, password, parse_workers)
    except RagError as exc:
        raise _fail(str(exc))
    if report.aborted:
        raise _fail(f"stopped: {report.aborted}; run the same command again when it is back", 1)
    if report.failed:
        raise typer.Exit(1)


def _loaded_workspace():  # noqa: ANN202 - Workspace
    """The workspace with its embedding model loaded (before any progress bar starts)."""
    try:
        workspace = _workspace()
        workspace.embedder
    except RagError as exc:
        raise _fail(str(exc))
    return workspace


def _ingest_batch(workspace, files: list[Path], password: str | None, parse_workers: int | None = None):  # noqa: ANN001, ANN202
    """Ingest files with a progress bar (pages done of the folder's pages, pages/s, time left, the current
    file): a line per file, then the summary. RagError propagates."""
    from app.web.helpers import plural
    from ingest.pipeline import IngestEvent

    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[pages]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("ingesting", total=None, pages="counting pages…", current="")

        def on_event(event: IngestEvent) -> None:
            state = event.progress
            if state is not None:
                progress.update(task, total=1.0, completed=state.fraction, pages=state.describe())
            if event.kind == "file" and state is not None:
                progress.update(task, current=f"({state.files_done + 1} of {state.files_total}) {Path(event.path).name}")
            elif event.kind == "ocr":  # seconds a page: say which page is being read
                progress.update(task, current=f"{Path(event.path).name}: OCR of page {event.page} of {event.pages_total}")
            elif event.kind == "done" and event.result is not None:
                progress.update(task, current="")
                _print_result(event.result)

        report = workspace.ingest(files, password=password, on_event=on_event, parse_workers=parse_workers)
    for path in report.repaired:
        console.print(f"[yellow]repaired[/] an interrupted ingestion of {escape(path)}", highlight=False)
    elapsed = time.perf_counter() - started
    summary = ", ".join(
        f"{report.count(status)} {status}"
        for status in ("added", "replaced", "reindexed", "unchanged", "duplicate", "moved", "failed", "not processed")
        if report.count(status)
    )
    ocr = f" ({report.ocr_pages} OCR'd)" if report.ocr_pages else ""
    tables = f", {plural(report.tables, 'table')}" if report.tables else ""
    read = f" — {report.pages} pages{ocr}{tables}, {report.chunks} chunks" if report.pages else ""
    console.print(f"{summary}{read} in {elapsed:.1f}s", highlight=False)
    return report


def _watch(paths: list[str], password: str | None, settle: float, poll: float | None, parse_workers: int | None = None) -> None:
    """`rag ingest --watch`: ingest what the folders hold, then follow them until Ctrl-C."""
    from ingest.watch import FolderWatcher, WatchedLibrary, WatchStep

    folders = [Path(p) for p in paths]
    for folder in folders:
        if not folder.is_dir():
            raise _fail(f"--watch takes folders: {folder} is not a folder", 2)
    workspace = _loaded_workspace()
    library = WatchedLibrary(
        ingest=lambda files: _ingest_batch(workspace, files, password, parse_workers),
        remove=lambda document: workspace.remove(document.doc_id),
        documents=workspace.documents,
    )
    watcher = FolderWatcher(folders, library, settle=settle, poll=poll)
    last_problem = ""

    def on_step(step: WatchStep) -> None:
        nonlocal last_problem
        for document in step.removed:
            console.print(f"[yellow]- {escape(document.file_name)}[/]: removed (its file is gone)", highlight=False)
        if step.problem and step.problem != last_problem:
            errors.print(f"[bold red]error:[/] {escape(step.problem)}; trying again every few seconds",
                         highlight=False, soft_wrap=True)
        elif last_problem and not step.problem:
            console.print("[green]the library is in step again[/]", highlight=False)
        last_problem = step.problem

    names = ", ".join(str(f) for f in folders)
    how = f"looking every {poll:g} s" if poll is not None else "on file events"
    console.print(f"watching {escape(names)} for PDFs ({how}; Ctrl-C to stop)", highlight=False, soft_wrap=True)
    try:
        watcher.run(on_step)
    except KeyboardInterrupt:
        console.print("stopped watching", highlight=False)
    finally:
        workspace.close()


def _print_result(result) -> None:  # noqa: ANN001
    from app.web.helpers import tables_note

    name = escape(Path(result.path).name)
    if result.status == "failed":
        console.print(f"[red]✗ {name}[/]: {escape(result.reason)}", highlight=False)
    elif result.status in ("added", "replaced"):
        reading = result.reading
        attention = f" [yellow]({escape(reading.summary())})[/]" if reading is not None and reading.needs_attention else ""
        tables = tables_note(reading, ", {}")
        console.print(f"[green]✓ {name}[/]: {result.status}, {result.pages} pages{tables}, {result.chunks} chunks{attention}",
                      highlight=False)
    elif result.status == "not processed":
        console.print(f"[yellow]- {name}[/]: not processed ({escape(result.reason)})", highlight=False)
    else:
        detail = f" ({escape(result.reason)})" if result.reason else ""
        console.print(f"[dim]= {name}: {result.status}{detail}[/]", highlight=False)


# --- docs -----------------------------------------------------------------------------------------
@docs_app.command("list")
def docs_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The ingested documents."""
    try:
        documents = _workspace().documents()
    except RagError as exc:
        raise _fail(str(exc))
    if as_json:
        print(json.dumps([
            {"doc": d.doc_id, "file": d.file_name, "path": d.path, "title": d.title, "pages": d.pages,
             "chunks": d.chunks, "ingested_at": d.ingested_at,
             "reading": d.reading.as_dict() if d.reading is not None else None}
            for d in documents
        ], ensure_ascii=False, indent=2))
        return
    if not documents:
        console.print("no documents yet: run `rag ingest PATH`")
        return
    console.print(documents_table(documents, console.width))


def documents_table(documents, width: int) -> Table:  # noqa: ANN001 - list[rag.types.DocumentRecord]
    """One line per document in ``width`` columns: ids shortened to a prefix every command accepts, file
    names (what ``--doc`` takes) and titles cut with an ellipsis, the date left out below 100 columns
    (``--json`` has everything)."""
    files = [d.file_name for d in documents]
    titles = [" ".join(d.title.split()) for d in documents]
    dated = width >= 100
    columns = [("doc", SHORT_ID), ("pages", 5), ("chunks", 6)] + ([("ingested", 10)] if dated else [])
    room = max(24, width - sum(w for _, w in columns) - 3 * (len(columns) + 2))  # 3: a column's padding and rule
    file_width = min(max(map(len, files), default=4), max(12, room // 2))
    title_width = max(8, min(max(map(len, titles), default=5), room - file_width))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("doc", no_wrap=True, min_width=SHORT_ID)
    table.add_column("file", no_wrap=True, overflow="ellipsis", width=file_width)
    table.add_column("title", no_wrap=True, overflow="ellipsis", width=title_width)
    for name, minimum in columns[1:]:
        table.add_column(name, justify="left" if name == "ingested" else "right", no_wrap=True, min_width=minimum)
    for d, file_name, title in zip(documents, files, titles):
        date = [datetime.fromtimestamp(d.ingested_at).strftime("%Y-%m-%d")] if dated else []
        table.add_row(d.doc_id[:SHORT_ID], file_name, title, str(d.pages), str(d.chunks), *date)
    return table


@docs_app.command("remove")
def docs_remove(reference: str = typer.Argument(..., help="Document id (or a unique prefix), file name or path.")) -> None:
    """Remove a document from every store."""
    try:
        workspace = _workspace()
        record = workspace.find_document(reference)
        if record is None:
            raise _fail(f"no document matches {reference!r}; see `rag docs list`", 1)
        workspace.remove(record.doc_id)
    except RagError as exc:
        raise _fail(str(exc))
    console.print(f"removed {record.file_name} ({record.doc_id})", highlight=False)


# --- search ---------------------------------------------------------------------------------------
@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, help="How many passages."),
    mode: Optional[str] = typer.Option(None, "--mode", help="keyword, dense or hybrid."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON contract."),
    doc: Optional[list[str]] = typer.Option(None, "--doc", "-d", help=DOC_HELP),
) -> None:
    """Find the passages that answer a question (no language model involved)."""
    chosen = _mode(mode)
    try:
        workspace = _workspace()
        result = workspace.search(query, top_k=top_k, mode=chosen, docs=_scope(workspace, doc))
    except RagError as exc:
        raise _fail(str(exc))
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    for note in result.notes:
        errors.print(f"[dim]note: {note}[/]", highlight=False)
    if result.answerable is False:
        console.print(f"[yellow]not enough evidence[/]: {result.reason}", highlight=False)
    if not result.hits:
        console.print("no matching passages")
    for rank, hit in enumerate(result.hits, start=1):
        pages = ", ".join(str(p) for p in hit.chunk.pages)
        console.print(f"[bold]{rank}. {escape(hit.title or hit.file)}[/] [dim]({escape(hit.file)}, p. {pages}, score {hit.score:.4f})[/]", highlight=False)
        text = " ".join(hit.chunk.text.split())
        console.print(f"   {text[:400]}{'…' if len(text) > 400 else ''}", highlight=False, markup=False)


# --- config ---------------------------------------------------------------------------------------
@app.command()
def config(markdown: bool = typer.Option(False, "--markdown", help="Print the settings table of the README.")) -> None:
    """Show every setting with its effective value (from defaults, rag.toml and RAG_* variables)."""
    if markdown:
        print(settings_markdown())
        return
    try:
        settings = _settings()
    except RagError as exc:
        raise _fail(str(exc))
    table = Table("environment variable", "value", "what it does")
    for env, value, description, _key in settings_rows(settings):
        if "password" in env.lower() or "api_key" in env.lower():
            value = "***" if value != "unset" else value
        table.add_row(env, value, description)
    console.print(table)


# --- doctor ---------------------------------------------------------------------------------------
@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON.")) -> None:
    """Check every configured backend and model; one line per finding, exit code 1 when something is wrong."""
    from app.doctor import exit_code, format_line, run_checks

    try:
        settings = _settings()
    except RagError as exc:
        raise _fail(str(exc), 1)
    findings = run_checks(settings)
    if as_json:
        print(json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2))
    else:
        styles = {"ok": "green", "warning": "yellow", "error": "bold red"}
        for finding in findings:
            console.print(f"[{styles[finding.level]}]{format_line(finding)}[/]", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(exit_code(findings))


# --- web ------------------------------------------------------------------------------------------
@app.command()
def web(
    host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default: the web_host setting)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Port (default: the web_port setting)."),
) -> None:
    """Start the web chat (Streamlit) on web_host:web_port; open the printed URL in a browser."""
    import os

    _will_generate()
    from app.web.helpers import upload_limit_mb

    try:
        settings = _settings()
    except RagError as exc:
        raise _fail(str(exc))
    script = Path(__file__).parent / "web" / "page.py"
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", host or settings.web_host,
        "--server.port", str(port or settings.web_port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.maxUploadSize", str(upload_limit_mb(settings.max_upload_mb)),
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
        "--theme.primaryColor", "#2563eb",
    ]
    console.print(f"web chat on http://{host or settings.web_host}:{port or settings.web_port} (Ctrl+C stops it)", highlight=False)
    sys.stdout.flush()
    if os.name == "posix":
        os.execv(sys.executable, command)  # the server replaces this process: signals reach it directly
    import subprocess

    raise typer.Exit(subprocess.call(command))


# --- eval -----------------------------------------------------------------------------------------
@app.command("eval")
def eval_command(
    questions: Path = typer.Argument(..., help="Questions as JSON Lines (format: README, 'Evaluating retrieval')."),
    corpus: Optional[list[str]] = typer.Option(None, "--corpus", help="Ingest these PDFs or folders first."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full results as JSON here."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Fit the relevance gate on these questions and save it."),
    mode: Optional[str] = typer.Option(None, "--mode", help="keyword, dense or hybrid (default: the setting)."),
) -> None:
    """Measure retrieval on questions with gold evidence: hit@k, hit within a 1,500-word context, MRR, nDCG,
    refusals; with --calibrate, fit the relevance gate's thresholds on them first."""
    from rag.eval.metrics import METRIC_COLUMNS, table_rows
    from rag.eval.questions import load_questions
    from rag.eval.run import calibrate_gate, run_eval

    picked = _mode(mode)
    try:
        items = load_questions(questions)
        workspace = _workspace()
        if corpus:
            from ingest.discover import discover

            files, unmatched = discover(corpus)
            for argument in unmatched:
                errors.print(f"[yellow]warning:[/] no file matches {argument!r}", highlight=False)
            report = workspace.ingest(files)
            errors.print(f"corpus: {len(files)} files, {report.count('added') + report.count('replaced')} ingested, "
                         f"{report.count('unchanged')} unchanged, {len(report.failed)} failed", highlight=False)
        known = {d.file_name for d in workspace.documents()}
        missing = sorted({q.doc for q in items if q.answerable and Path(q.doc or "").name not in known})
        if missing:
            errors.print(f"[yellow]warning:[/] not ingested: {', '.join(missing)} (use --corpus)", highlight=False)
        chosen = picked or Mode.parse(workspace.settings.retrieval_mode)
        fits = []
        if calibrate:
            calibration, fits, runs = calibrate_gate(workspace.retriever, workspace.catalog, items,
                                                     embedding_model=workspace.embedder.name, source=str(questions))
            calibration.save(workspace.settings.gate_path)
            run = runs[str(chosen)]
        else:
            run = run_eval(workspace.retriever, workspace.catalog, items, chosen, gate=workspace.gate)
    except RagError as exc:
        raise _fail(str(exc))

    for note in run.notes:
        errors.print(f"[dim]note: {note}[/]", highlight=False)
    labels = {"refused_unanswerable": "refused unans.", "refused_answerable": "refused ans.", "page_hit@5": "page@5"}
    table = Table("type", "n", *(labels.get(c, c) for c in METRIC_COLUMNS),
                  title=f"retrieval: {chosen}" + (f" + rerank ({run.reranker})" if run.reranker else ""))
    for row in table_rows(run.summary):
        table.add_row(*row)
    (console if console.is_terminal else Console(width=160)).print(table)
    auc = run.summary.get("gate_auc")
    if auc is not None:
        console.print(f"relevance gate ROC AUC (answerable vs unanswerable): {auc:.3f}", highlight=False)
    for fit in fits:
        console.print(
            f"calibrated gate '{fit.name}': {fit.n_answerable} answerable, {fit.n_unanswerable} unanswerable; "
            f"ROC AUC {fit.auc_in_sample:.3f} (leave-one-document-out {fit.auc_cross_validated:.3f}); threshold "
            f"{fit.threshold:.3f}; on questions whose document it did not see, it refuses "
            f"{fit.held_out_refused_unanswerable:.0%} of unanswerable and {fit.held_out_refused_answerable:.0%} of answerable "
            f"ones (on the questions it was fitted on: {fit.refused_unanswerable:.0%} and {fit.refused_answerable:.0%})",
            highlight=False,
        )
    if calibrate:
        console.print(f"gate calibration written to {workspace.settings.gate_path}", highlight=False)
    if json_path is not None:
        payload = {"questions_file": str(questions), **run.as_dict()}
        if fits:
            payload["calibration"] = [fit.__dict__ for fit in fits]
        json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {json_path}", highlight=False)


# --- ask and chat ---------------------------------------------------------------------------------
def _plain(text: str, *, style: str | None = None, err: bool = False) -> None:
    """Print document or model text exactly: no rich markup, emoji codes or highlighting is interpreted."""
    (errors if err else console).print(text, style=style, markup=False, highlight=False, emoji=False, soft_wrap=True)


def _show(stream, no_stream: bool = False):  # noqa: ANN001, ANN202 - AnswerStream -> Answer
    """The answer once: streamed in place on a terminal, the final text alone anywhere else."""
    from app.terminal_answer import show_answer

    return show_answer(stream, console, errors, live=console.is_terminal and not no_stream)


@app.command()
def ask(
    question: str = typer.Argument(..., help="Your question about the ingested documents."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON (the documented contract)."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer once it is complete."),
    doc: Optional[list[str]] = typer.Option(None, "--doc", "-d", help=DOC_HELP),
    export: Optional[Path] = typer.Option(None, "--export", help="Also write the answer with its cited pages "
                                          "to this .md (page images beside it) or .html (one file)."),
) -> None:
    """Answer a question from your documents, citing document and page, or say that they don't tell."""
    _will_generate()
    try:
        if export is not None:
            from app.export import export_format

            export_format(export)  # a wrong suffix fails before the model runs
        workspace = _workspace()
        stream = workspace.ask(question, docs=_scope(workspace, doc))
        if as_json:
            answer = stream.answer
            print(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2))
        else:
            answer = _show(stream, no_stream)
        if export is not None:
            from app.export import export_answer

            written = export_answer(answer, workspace.catalog, export)
            images = len(written) - 1
            errors.print(f"exported to {escape(str(export))}" + (f" ({images} page image{'s' if images != 1 else ''} "
                         "beside it)" if images else ""), highlight=False, soft_wrap=True)
    except RagError as exc:
        raise _fail(str(exc))


def _chat_scope(workspace, command: str, scope):  # noqa: ANN001, ANN202
    """``/docs`` shows which documents the chat asks, ``/docs NAME...`` picks them, ``/docs all`` every one."""
    import shlex

    try:
        references = shlex.split(command)[1:]  # "/docs 'annual report.pdf'"
    except ValueError:  # an unclosed quote: read the words as they are
        references = command.split()[1:]
    if references == ["all"]:
        references, scope = [], None
    elif references:
        scope = _scope(workspace, references)
    if not references and scope is None:
        _plain("(every document)", style="dim")
    elif not references:
        _plain("(in " + ", ".join(d.file_name for d in scope) + ")", style="dim")
    return scope


CHAT_HELP = "/new starts over, /docs NAME... asks only those documents (/docs all: every one), /exit or Ctrl-D leaves."


@app.command()
def chat(doc: Optional[list[str]] = typer.Option(None, "--doc", "-d", help=DOC_HELP)) -> None:
    """An interactive conversation about your documents (reads questions from stdin until EOF).

    /new starts a new conversation; /docs NAME... restricts it to documents (/docs all lifts that);
    /exit leaves.
    """
    from rag.answer.conversation import Conversation

    _will_generate()
    try:
        workspace = _workspace()
        scope = _scope(workspace, doc)
    except RagError as exc:
        raise _fail(str(exc))
    conversation = Conversation()
    interactive = sys.stdin.isatty()
    if interactive:
        console.print("Ask about your documents. " + escape(CHAT_HELP), highlight=False)
    while True:
        try:
            line = console.input("[bold]you>[/] ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and not line:
            break
        question = line.strip()
        if not question:
            continue
        if question in ("/exit", "/quit"):
            break
        if question == "/new":
            conversation.reset()
            _plain("(new conversation)", style="dim")
            continue
        try:
            if question == "/docs" or question.startswith("/docs "):
                scope = _chat_scope(workspace, question, scope)
                continue
            _show(workspace.ask(question, conversation, docs=scope))
        except RagError as exc:  # a server may be back for the next question: the conversation goes on
            _plain(f"error: {exc}", style="bold red", err=True)
        _plain("")


# --- serve-llm ------------------------------------------------------------------------------------
@app.command("serve-llm")
def serve_llm(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default RAG_SERVE_HOST)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default RAG_SERVE_PORT)."),
) -> None:
    """Serve the configured GGUF (RAG_LLM_MODEL) over an OpenAI-compatible API (llama-cpp-python's server)."""
    _will_generate()
    from app.workspace import engine_config
    from llm.factory import resolve_model_path
    from llm.server import serve

    try:
        settings = _settings()
        with engine_errors():
            model = resolve_model_path(settings.llm_model)
    except RagError as exc:
        raise _fail(str(exc))
    bind_host = host or settings.serve_host
    bind_port = port or settings.serve_port
    errors.print(f"serving {model.name} at http://{bind_host}:{bind_port}/v1 (Ctrl+C stops)", highlight=False)
    try:
        with engine_errors():
            serve(model, engine_config(settings), host=bind_host, port=bind_port)
    except (RagError, ValueError) as exc:
        raise _fail(str(exc))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
