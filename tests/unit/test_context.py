"""Context assembly merges neighbouring or overlapping chunks of one document, so no sentence is read twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingest.chunking import chunk_document, document_text
from rag.answer.context import assemble, assemble_leading, within_budget
from rag.types import Hit, Page, ParsedDocument


def _count_words(texts):
    return [len(t.split()) for t in texts]


def _document(sentences_per_page: int = 30, pages: int = 2, tag: str = "a") -> ParsedDocument:
    body = []
    for p in range(pages):
        body.append(
            Page(p + 1, " ".join(f"Sentence {p}-{i} of document {tag} says something specific." for i in range(sentences_per_page)))
        )
    sha = hashlib.sha256(tag.encode()).hexdigest()
    return ParsedDocument(Path(f"/docs/{tag}.pdf"), sha, f"Doc {tag}", tuple(body))


def _chunks(doc: ParsedDocument):
    chunks = chunk_document(doc, _count_words, chunk_tokens=40, overlap=0.25)
    assert any(a.char_end > b.char_start for a, b in zip(chunks, chunks[1:])), "the test needs overlapping chunks"
    return chunks


def _hits(chunks, order=None, file="a.pdf"):
    order = order or range(len(chunks))
    return [Hit(chunk=chunks[i], score=1.0 / (rank + 1), file=file) for rank, i in enumerate(order)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\n", " ").split(".") if s.strip()]


def test_overlapping_chunks_of_one_document_become_one_passage_with_each_sentence_once():
    doc = _document()
    chunks = _chunks(doc)
    passages = assemble(_hits(chunks[:3]))
    assert len(passages) == 1
    sentences = _sentences(passages[0].text)
    assert len(sentences) == len(set(sentences))
    assert passages[0].text == document_text(doc)[chunks[0].char_start : chunks[2].char_end]
    assert passages[0].chunk_ids == [c.chunk_id for c in chunks[:3]]


def test_chunks_far_apart_stay_separate_passages():
    chunks = _chunks(_document())
    passages = assemble(_hits([chunks[0], chunks[4]]))
    assert [p.chunk_ids for p in passages] == [[chunks[0].chunk_id], [chunks[4].chunk_id]]


def test_chunks_of_different_documents_never_merge():
    a, b = _chunks(_document(tag="a")), _chunks(_document(tag="b"))
    passages = assemble(_hits([a[0]]) + _hits([b[0]], file="b.pdf"))
    assert len(passages) == 2
    assert {p.doc_id for p in passages} == {a[0].doc_id, b[0].doc_id}


def test_passages_are_ordered_by_their_best_hit_and_keep_its_rank():
    chunks = _chunks(_document())
    hits = _hits([chunks[6], chunks[0], chunks[1]])
    passages = assemble(hits)
    assert [p.rank for p in passages] == [1, 2]
    assert passages[0].chunk_ids == [chunks[6].chunk_id]
    assert passages[1].chunk_ids == [chunks[0].chunk_id, chunks[1].chunk_id]


def test_a_merged_passage_spans_the_pages_of_its_chunks():
    chunks = _chunks(_document(pages=2))
    crossing = [c for c in chunks if c.page_end == 2]
    first_on_page_two = crossing[0]
    before = chunks[first_on_page_two.index - 1]
    passage = assemble(_hits([before, first_on_page_two]))[0]
    assert passage.page_start == before.page_start and passage.page_end == 2


def test_within_budget_keeps_whole_passages_until_the_word_limit():
    chunks = _chunks(_document())
    passages = assemble(_hits([chunks[0], chunks[4], chunks[8]]))
    words = [p.words for p in passages]
    kept = within_budget(passages, words[0] + words[1])
    assert [p.chunk_ids for p in kept] == [p.chunk_ids for p in passages[:2]]
    first_cut = within_budget(passages, 5)
    assert len(first_cut) == 1 and first_cut[0].words == 5


def test_leading_passages_stop_taking_hits_once_the_budget_is_reached():
    chunks = _chunks(_document())
    # rank 1 and 2 are far apart; rank 3 touches rank 1 and would ride along with it if every hit were merged
    hits = _hits([chunks[0], chunks[4], chunks[1]])
    budget = assemble(hits[:2])
    leading = assemble_leading(hits, sum(p.words for p in budget))
    assert [p.chunk_ids for p in leading] == [[chunks[0].chunk_id], [chunks[4].chunk_id]]
    assert [p.chunk_ids for p in assemble(hits)][0] == [chunks[0].chunk_id, chunks[1].chunk_id]


def test_leading_passages_take_every_hit_when_the_budget_allows():
    chunks = _chunks(_document())
    hits = _hits([chunks[0], chunks[4], chunks[1]])
    assert [p.chunk_ids for p in assemble_leading(hits, 10_000)] == [p.chunk_ids for p in assemble(hits)]
    assert assemble_leading([], 100) == []


def test_an_overlapping_chunk_that_repeats_a_table_header_adds_only_its_new_document_text():
    from rag.types import Chunk

    text = "Name Score\nada 1 2\nbob 3 4\ncid 5 6"
    first = Chunk("d-0", "d", 0, text[:23], 1, 1, 0, 23)  # "Name Score\nada 1 2\nbob 3 4"
    second = Chunk("d-1", "d", 1, "Name Score\n" + text[19:], 1, 1, 19, len(text))  # header repeated, then "bob..cid"
    [passage] = assemble(_hits([first, second]))
    assert passage.text == text
