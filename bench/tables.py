"""Tables: hybrid retrieval with the default chunking and with tables kept whole (``keep_tables``), in one run.

    python bench/tables.py [--questions Q.jsonl] [--corpus DIR] [--home-prefix PREFIX]

Defaults: ../shared/eval/dev2-questions.jsonl over ../shared/corpus2. The corpus is ingested twice, into
``PREFIX-default`` and ``PREFIX-tables`` (fresh temporary folders by default; existing ones are reused as they
are), the second with RAG_CHUNK_KEEP_TABLES on. Prints evidence hit@1, hit@5, hit within the
1,500-word budget and MRR@10 for both: over all answerable questions, the table questions (``"table": true`` in
the question file) and the others, and per question type; then every question whose first evidence rank moved.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from ingest.discover import discover  # noqa: E402
from rag.eval.metrics import QuestionOutcome, summarize  # noqa: E402
from rag.eval.questions import load_questions  # noqa: E402
from rag.eval.run import run_eval  # noqa: E402
from rag.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
COLUMNS = ("hit@1", "hit@5", "hit@budget", "mrr@10")


def outcomes(corpus: Path, questions_path: Path, home: Path, keep_tables: bool) -> tuple[list[QuestionOutcome], int]:
    """Ingest ``corpus`` into ``home`` (tables kept whole or not) and judge hybrid retrieval on the questions;
    also the number of chunks (they differ between the two runs when the corpus has tables a chunk would cut)."""
    workspace = Workspace(load_settings(home=home, reranker="none", chunk_keep_tables=keep_tables))
    files, _ = discover([str(corpus)])
    workspace.ingest(files)
    try:
        run = run_eval(workspace.retriever, workspace.catalog, load_questions(questions_path), "hybrid")
        return run.outcomes, sum(d.chunks for d in workspace.documents())
    finally:
        workspace.close()


def groups(found: list[QuestionOutcome], tables: set[str]) -> dict[str, list[QuestionOutcome]]:
    out = {"all": found, "table questions": [o for o in found if o.id in tables],
           "other questions": [o for o in found if o.id not in tables]}
    for qtype in sorted({o.type for o in found if o.answerable}):
        out[qtype] = [o for o in found if o.type == qtype]
    return out


def cell(row: dict[str, Any]) -> str:
    return " / ".join(f"{row[c]:.3f}" if c == "mrr@10" else f"{row[c]:.2f}" for c in COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=str(SHARED / "eval" / "dev2-questions.jsonl"))
    parser.add_argument("--corpus", default=str(SHARED / "corpus2"))
    parser.add_argument("--home-prefix", default=None)
    args = parser.parse_args()
    prefix = args.home_prefix or str(Path(tempfile.mkdtemp(prefix="rag-tables-")) / "home")
    questions_path = Path(args.questions)
    lines = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    tables = {q["id"] for q in lines if q.get("table")}

    made = {name: outcomes(Path(args.corpus), questions_path, Path(f"{prefix}-{name}"), keep)
            for name, keep in (("default", False), ("tables", True))}
    runs = {name: found for name, (found, _) in made.items()}
    print(f"questions: {questions_path}; corpus: {args.corpus}; hybrid, reranker off; "
          f"chunks: {made['default'][1]} by default, {made['tables'][1]} with keep_tables")
    print(f"\n| questions | answerable | default: {' / '.join(COLUMNS)} | keep_tables |")
    print("|---|---|---|---|")
    by_run = {name: groups(found, tables) for name, found in runs.items()}
    for group, members in by_run["default"].items():
        rows = {name: summarize(by_run[name][group])["overall"] for name in runs}
        if rows["default"].get("answerable"):
            print(f"| {group} | {rows['default']['answerable']} | {cell(rows['default'])} | {cell(rows['tables'])} |")
    print("\nfirst evidence rank (top 10) that moved:")
    for before, after in zip(runs["default"], runs["tables"]):
        if before.answerable and (before.first_hit, before.hit_budget) != (after.first_hit, after.hit_budget):
            mark = " (table question)" if before.id in tables else ""
            print(f"  {before.id}{mark}: {before.first_hit} -> {after.first_hit}"
                  f"{'' if before.hit_budget == after.hit_budget else f', within budget {before.hit_budget} -> {after.hit_budget}'}")


if __name__ == "__main__":
    main()
