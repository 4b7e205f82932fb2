"""An answer in the terminal, shown once.

On a terminal the model's text streams into a rich ``Live`` region that the final, checked text replaces
when the checks finish (corrected citation markers, a quote of the passages, a late refusal), so the screen
ends with exactly one answer; when the text was replaced by a quote or a refusal, one dim line above it
says so. Anywhere else (a pipe, a file, ``--no-stream``) only the final text is printed. Then: why it was
refused, or its sources and any sentence the documents do not support.

Document and model text is always printed as it is: no rich markup, emoji code or highlighting is read in it.
"""

from __future__ import annotations

import time

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from rag.answer.prompting import format_pages
from rag.answer.result import QUOTED_NO_FIGURE, QUOTED_OTHER_LANGUAGE, Answer, AnswerStream

REFRESHES_PER_SECOND = 15  # a redraw per token would cost more than the model's 20-40 tokens/s on 2 cores


NOTICES = {  # (what replaced the model's reply, the question's language) -> the line above the answer
    ("quote", "en"): "(The model's reply was not supported by your documents.)",
    ("quote", "zh"): "（模型的回答没有文档依据。）",
    ("quote for a figure", "en"): "(The model's reply gave no figure.)",
    ("quote for a figure", "zh"): "（模型的回答没有给出数字。）",
    ("quote in language", "en"): "(The model did not answer in the language of your question.)",
    ("quote in language", "zh"): "（模型没有用中文回答。）",
    ("refusal", "en"): "(The model's reply was withdrawn.)",
    ("refusal", "zh"): "（模型的回答已撤回。）",
}


def replacement_notice(answer: Answer, streamed: str) -> str | None:
    """The one line that says why the answer on screen is not the model's text, or None when it is."""
    if answer.quoted:
        what = {QUOTED_OTHER_LANGUAGE: "quote in language", QUOTED_NO_FIGURE: "quote for a figure"}.get(answer.reason, "quote")
    elif answer.refused and answer.model_called and streamed.strip() and streamed.strip() != answer.answer:
        what = "refusal"
    else:
        return None
    return NOTICES[what, "zh" if answer.language == "zh" else "en"]


def final_view(answer: Answer, streamed: str = "") -> RenderableType:
    """The answer as it stays on screen: the notice (dim), when there is one, above the final text."""
    body = Text(answer.answer)
    notice = replacement_notice(answer, streamed)
    return Group(Text(notice, style="dim"), body) if notice else body


def show_answer(stream: AnswerStream, out: Console, err: Console, *, live: bool) -> Answer:
    """Show ``stream``'s answer on ``out`` (streamed in place when ``live``), its notes on ``err``, then its
    sources; returns the final answer."""
    if live:
        streamed, drawn = "", 0.0
        with Live(Text(""), console=out, auto_refresh=False, transient=False) as view:
            for piece in stream:
                streamed += piece
                now = time.monotonic()
                if now - drawn >= 1.0 / REFRESHES_PER_SECOND:  # the first piece at once, then 15 frames a second
                    view.update(Text(streamed), refresh=True)
                    drawn = now
            view.update(Text(streamed), refresh=True)  # the model's whole text while the checks run
            answer = stream.answer
            view.update(final_view(answer, streamed), refresh=True)  # the last frame is drawn in full
    else:
        answer = stream.answer
        out.print(final_view(answer), soft_wrap=True)
    for note in answer.notes:
        _plain(err, f"note: {note}", style="dim")
    show_details(answer, out)
    return answer


def show_details(answer: Answer, out: Console) -> None:
    """Below the answer: why it was refused, or its sources and the sentences no passage supports."""
    if answer.refused:
        _plain(out, f"not answered: {answer.reason}", style="yellow")
        return
    if answer.citations:
        _plain(out, "Sources:", style="bold")
        for c in answer.citations:
            where = ", ".join(part for part in (c.file, format_pages(c.pages)) if part)
            _plain(out, f"  [{c.n}] {c.title}" + (f" ({where})" if where else ""))
            _plain(out, f"      \u201c{c.snippet}\u201d", style="dim")
    else:
        _plain(out, "Sources: none of the passages supports this answer", style="yellow")
    if answer.grounding.unsupported_sentences and not answer.quoted:
        _plain(out, "Not supported by your documents:", style="yellow")
        for sentence in answer.grounding.unsupported_sentences:
            _plain(out, f"  - {sentence}", style="yellow")


def _plain(console: Console, text: str, *, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False, emoji=False, soft_wrap=True)
