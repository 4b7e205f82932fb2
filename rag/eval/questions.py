"""Question files: JSON Lines, one object a line (the format of ``../shared/eval/README.md``).

- ``id``: unique name; ``question``: the text asked;
- ``doc``: file name of the document that answers it (``null`` when unanswerable);
- ``pages``: 1-based PDF pages that state the answer (``[]`` when unanswerable);
- ``evidence``: an exact phrase (<= 15 words) of that page's text;
- ``evidence_by_page`` (optional, type ``multi``): ``{"page": "phrase"}``, one phrase per page a full answer needs;
- ``type``: free label used to break results down (factual, numeric, multi, paraphrase, keyword,
  crosslingual, unanswerable); ``unanswerable`` marks a question the documents do not answer;
- ``answer`` (optional): a short gold answer (not used by retrieval metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rag.errors import ConfigError

UNANSWERABLE = "unanswerable"

@dataclass(frozen=True)
class Question:
    id: str
    question: str
    type: str
    doc: str | None = None
    pages: tuple[int, ...] = ()
    evidence: str = ""
    evidence_by_page: Mapping[int, str] = field(default_factory=dict)
    answer: str = ""

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE and bool(self.doc)

    @property
    def phrases(self) -> list[str]:
        """Every evidence phrase of the question (the main one first, no repeats)."""
        found = [self.evidence] if self.evidence else []
        found += [p for p in self.evidence_by_page.values() if p]
        return list(dict.fromkeys(found))


def parse_question(data: Mapping[str, Any], where: str = "question") -> Question:
    """One question object; raises ConfigError naming what is missing."""
    for key in ("id", "question", "type"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(f"{where}: field {key!r} must be a non-empty string")
    qtype = data["type"].strip().lower()
    doc = data.get("doc") or None
    evidence = data.get("evidence") or ""
    if qtype != UNANSWERABLE and (not doc or not evidence):
        raise ConfigError(f"{where} ({data['id']}): answerable questions need 'doc' and 'evidence'")
    by_page = {int(k): str(v) for k, v in (data.get("evidence_by_page") or {}).items()}
    return Question(
        id=data["id"],
        question=data["question"],
        type=qtype,
        doc=doc,
        pages=tuple(int(p) for p in data.get("pages") or ()),
        evidence=evidence,
        evidence_by_page=by_page,
        answer=str(data.get("answer") or ""),
    )


def load_questions(path: Path) -> list[Question]:
    """Questions from a JSON Lines file (blank lines and lines starting with ``#`` are skipped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read questions file {path}: {exc.strerror or exc}") from None
    questions: list[Question] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        questions.append(parse_question(data, f"{path}:{number}"))
    if not questions:
        raise ConfigError(f"{path} holds no questions")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: question ids must be unique")
    return questions


