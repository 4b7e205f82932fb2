"""Answer benchmark: grounded answers with the real default engine over the dev questions.

    python bench/answer.py [--questions Q.jsonl] [--corpus DIR] [--home DIR] [--limit N]
                           [--min-support 0.3,0.5] [--json OUT] [--show]

Defaults: ../shared/eval/dev-questions.jsonl over ../shared/corpus, ingested once into ``--home``
(default /tmp/rag-bench-answer; re-running reuses it, unchanged files are skipped). Settings come from the
environment as usual (RAG_LLM_MODEL, RAG_MIN_SUPPORT, ...), so the same script measures any engine.

Prints:
- cited gold page: among answered answerable questions, the share whose citations include a gold page of
  the gold document (goal >= 0.8), and the share citing the gold document at all; how many answers quote
  the passages because no sentence of the model's reply was supported (``quote_unsupported``);
- gold page among the passages read: the share of the same answers whose prompt held a gold page at all
  (no citation can do better: it bounds the cited share, and shows what retrieval and the passage budget
  allow), and the share whose first, best-ranked passage held one;
- refusal rates as in ``rag eval``: unanswerable questions refused, answerable questions wrongly refused,
  and what refused them (gate before the model, the model itself, grounding, language);
- latency per stage, p50 and p90, in seconds: retrieve, rerank, first token, total, for questions the model
  answered (refusals by the gate are reported apart: they never call the model). Goals on 2 cores with the
  default model: first token <= 1.5 s and whole answer <= 5 s at p50.
- the same per question type;
- all of it for several ``min_support`` values: the run answers with min_support 0 and then applies each
  threshold to the recorded grounding (an answer below it would have been refused), so one run shows them all.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from ingest.discover import discover  # noqa: E402
from llm.cpu_threads import configure_openmp  # noqa: E402
from rag.answer.result import MODEL_REFUSED, NO_PASSAGES, NOT_IN_LANGUAGE, Answer
from rag.eval.questions import Question, load_questions
from rag.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
STAGES = ("retrieve", "rerank", "first_token", "total")


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def refusal_source(answer: Answer) -> str:
    if not answer.refused:
        return ""
    if not answer.model_called:
        return "no passages" if answer.reason == NO_PASSAGES else "gate"
    if answer.reason == MODEL_REFUSED:
        return "model"
    if answer.reason == NOT_IN_LANGUAGE:
        return "language"
    if "min_support" in answer.reason:
        return "grounding"
    return "other"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def judge(question: Question, answer: Answer, cpu: float) -> dict[str, Any]:
    gold_pages = set(question.pages)
    cited_doc = any(c.file == question.doc for c in answer.citations)
    cited_page = any(c.file == question.doc and gold_pages & set(c.pages) for c in answer.citations)
    read = [p.file == question.doc and bool(gold_pages & set(p.pages)) for p in answer.passages]
    return {
        "id": question.id,
        "type": question.type,
        "answerable": question.answerable,
        "refused": answer.refused,
        "refused_by": refusal_source(answer),
        "reason": answer.reason,
        "model_called": answer.model_called,
        "cited_doc": cited_doc,
        "cited_gold_page": cited_page,
        "quoted": answer.quoted,
        "gold_page_read": any(read),
        "gold_page_first": bool(read) and read[0],
        "citations": [{"file": c.file, "pages": c.pages} for c in answer.citations],
        "supported": answer.grounding.supported,
        "unsupported": len(answer.grounding.unsupported_sentences),
        "answer": answer.answer,
        "timings": dict(answer.timings),
        "cpu_seconds": cpu,
    }


def at_threshold(row: dict[str, Any], min_support: float) -> dict[str, Any]:
    """The row as it would be with ``min_support``: an answer below it is refused by grounding.

    The benchmark runs with min_support 0 and applies thresholds afterwards, so one run shows them all.
    """
    if row["refused"] or min_support <= 0 or row["supported"] >= min_support:
        return row
    return {**row, "refused": True, "refused_by": "grounding", "cited_doc": False, "cited_gold_page": False,
            "quoted": False, "citations": []}


def share(rows: list[dict[str, Any]], key: str) -> float | None:
    return sum(1 for r in rows if r[key]) / len(rows) if rows else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["refused"]]
    called = [r for r in rows if r["model_called"]]
    gated = [r for r in rows if r["refused"] and not r["model_called"]]
    sources: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["refused"]:
            sources[f"{'answerable' if r['answerable'] else 'unanswerable'}:{r['refused_by']}"] += 1
    latency = {
        stage: {
            "p50": percentile([r["timings"][stage] for r in called], 0.5),
            "p90": percentile([r["timings"][stage] for r in called], 0.9),
        }
        for stage in STAGES
    }
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "answered_answerable": len(answered),
        "answered_unanswerable": sum(1 for r in unanswerable if not r["refused"]),
        "cited_gold_page": share(answered, "cited_gold_page"),
        "cited_gold_doc": share(answered, "cited_doc"),
        "gold_page_read": share(answered, "gold_page_read"),
        "gold_page_first": share(answered, "gold_page_first"),
        "answered_without_citation": sum(1 for r in answered if not r["citations"]),
        "answered_with_quote": sum(1 for r in answered if r["quoted"]),
        "refused_unanswerable": share(unanswerable, "refused"),
        "refused_answerable": share(answerable, "refused"),
        "refused_by": dict(sorted(sources.items())),
        "mean_supported_answered": statistics.fmean([r["supported"] for r in answered]) if answered else None,
        "latency_model_answers": latency,
        "cpu_seconds_model_answers_p50": percentile([r["cpu_seconds"] for r in called], 0.5),
        "model_calls": len(called),
        "latency_gate_refusals_total_p50": percentile([r["timings"]["total"] for r in gated], 0.5),
    }


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main() -> int:
    configure_openmp(os.environ)  # as `rag ask` does, before the embedder loads torch's OpenMP runtime
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=SHARED / "eval" / "dev-questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--home", type=Path, default=Path("/tmp/rag-bench-answer"))
    parser.add_argument("--limit", type=int, default=0, help="Only the first N questions.")
    parser.add_argument("--min-support", default="0.3,0.5",
                        help="min_support values to report besides 0 (comma-separated; applied after one run).")
    parser.add_argument("--json", type=Path, default=None, help="Write every answer and the summary here.")
    parser.add_argument("--show", action="store_true", help="Print every answer.")
    args = parser.parse_args()
    if not args.questions.is_file() or not args.corpus.is_dir():
        print(f"questions {args.questions} or corpus {args.corpus} not found", file=sys.stderr)
        return 2

    settings = load_settings(home=args.home, min_support=0.0)  # thresholds are applied afterwards
    thresholds = sorted({0.0, *(float(x) for x in args.min_support.split(",") if x.strip())})
    workspace = Workspace(settings)
    files, _ = discover([str(args.corpus)])
    started = time.perf_counter()
    report = workspace.ingest(files)
    print(f"corpus: {len(files)} files in {args.home} ({report.count('added')} newly ingested, "
          f"{time.perf_counter() - started:.1f}s)")

    questions = load_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    started = time.perf_counter()
    workspace.engine, workspace.embedder  # load the models before timing  # noqa: B018
    workspace.ask_once("What is this collection of documents about?")  # warm-up, not counted
    print(f"models loaded and warmed up in {time.perf_counter() - started:.1f}s (engine {workspace.engine.name}, "
          f"{settings.answer_context_words} passage words, max_new_tokens {settings.max_new_tokens})")

    rows = []
    for question in questions:
        cpu = cpu_seconds()
        answer = workspace.ask_once(question.question)
        row = judge(question, answer, cpu_seconds() - cpu)
        rows.append(row)
        if args.show:
            mark = "REFUSED " + row["refused_by"] if row["refused"] else ("page+" if row["cited_gold_page"] else "page-")
            print(f"[{question.id}] {mark} s={row['supported']:.2f} {answer.answer[:160]!r} {row['citations']} "
                  f"t={answer.timings['total']:.2f}s", flush=True)

    results: dict[str, Any] = {}
    for threshold in thresholds:
        judged = [at_threshold(r, threshold) for r in rows]
        summary = summarize(judged)
        by_type = {t: summarize([r for r in judged if r["type"] == t]) for t in sorted({r["type"] for r in judged})}
        results[f"{threshold:g}"] = {"summary": summary, "by_type": by_type}
        print()
        print(f"=== min_support {threshold:g} ===")
        print(f"questions: {summary['questions']} ({summary['answerable']} answerable, "
              f"{summary['answered_answerable']} of them answered; {summary['model_calls']} model calls)")
        print(f"cited gold page (answered answerable): {fmt(summary['cited_gold_page'])}   goal >= 0.8")
        print(f"cited gold document:                   {fmt(summary['cited_gold_doc'])}")
        print(f"gold page among the passages read:     {fmt(summary['gold_page_read'])}   "
              f"(in the first passage: {fmt(summary['gold_page_first'])})")
        print(f"answered without any citation:         {summary['answered_without_citation']}")
        print(f"answered with a quote instead:         {summary['answered_with_quote']}")
        print(f"refused unanswerable:                  {fmt(summary['refused_unanswerable'])}")
        print(f"refused answerable (wrongly):          {fmt(summary['refused_answerable'])}")
        print(f"refused by:                            {summary['refused_by']}")
        print(f"mean grounding of answered:            {fmt(summary['mean_supported_answered'])}")
        print(f"{'type':<14} {'n':>3} {'answered':>8} {'gold page':>9} {'refused':>8}")
        for name, t in by_type.items():
            refused = t["refused_unanswerable"] if name == "unanswerable" else t["refused_answerable"]
            answered = t["answered_unanswerable"] if name == "unanswerable" else t["answered_answerable"]
            print(f"{name:<14} {t['questions']:>3} {answered:>8} {fmt(t['cited_gold_page']):>9} {fmt(refused):>8}")

    summary = results["0"]["summary"]
    print()
    print("latency of answers the model wrote (s)   p50      p90")
    for stage in STAGES:
        lat = summary["latency_model_answers"][stage]
        print(f"  {stage:<38} {fmt(lat['p50']):<8} {fmt(lat['p90'])}")
    print(f"  CPU seconds per model answer, p50      {fmt(summary['cpu_seconds_model_answers_p50'])}")
    print(f"  gate refusals (no model), total p50    {fmt(summary['latency_gate_refusals_total_p50'])}")
    print("goals: first_token p50 <= 1.5 s, total p50 <= 5 s (2 cores, default model)")
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")

    if args.json:
        args.json.write_text(json.dumps({"thresholds": results, "answers": rows}, ensure_ascii=False, indent=2),
                             encoding="utf-8")
        print(f"\nwrote {args.json}")
    workspace.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
