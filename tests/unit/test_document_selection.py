"""Naming documents: ids, id prefixes, file names, paths and globs; close matches for a name that misses."""

from __future__ import annotations

import pytest

from rag.errors import UnknownDocument
from rag.index.selection import close_matches, matching, select_documents
from rag.types import DocumentRecord


def record(doc_id: str, path: str) -> DocumentRecord:
    return DocumentRecord(doc_id, path, doc_id, path.rsplit("/", 1)[-1], 1, 1, "ready", 0.0)


LIBRARY = [record("a1b2c3d4e5f60718", "/docs/llama.pdf"), record("a1b2ffff00001111", "/docs/Llama2.pdf"),
           record("9999888877776666", "/other/qlora.pdf"), record("5555444433332222", "/docs/annual report 2024.pdf")]


def ids(records) -> list[str]:  # noqa: ANN001
    return [r.doc_id for r in records]


def test_an_exact_id_path_or_file_name_names_that_document():
    assert ids(matching("9999888877776666", LIBRARY)) == ["9999888877776666"]
    assert ids(matching("/other/qlora.pdf", LIBRARY)) == ["9999888877776666"]
    assert ids(matching("qlora.pdf", LIBRARY)) == ["9999888877776666"]


def test_file_names_match_ignoring_case():
    assert ids(matching("LLAMA2.PDF", LIBRARY)) == ["a1b2ffff00001111"]


def test_a_glob_matches_file_names_ignoring_case():
    assert ids(matching("llama*", LIBRARY)) == ["a1b2c3d4e5f60718", "a1b2ffff00001111"]
    assert ids(matching("*report*", LIBRARY)) == ["5555444433332222"]


def test_an_id_prefix_needs_four_characters_and_may_name_several():
    assert ids(matching("a1b2", LIBRARY)) == ["a1b2c3d4e5f60718", "a1b2ffff00001111"]
    assert ids(matching("a1b2c3", LIBRARY)) == ["a1b2c3d4e5f60718"]
    assert matching("a1b", LIBRARY) == []


def test_several_references_name_each_document_once_in_library_order():
    chosen = select_documents(["qlora.pdf", "llama*", "llama.pdf"], LIBRARY)
    assert ids(chosen) == ["a1b2c3d4e5f60718", "a1b2ffff00001111", "9999888877776666"]


def test_close_matches_catch_typos_and_a_word_of_the_name_but_not_the_extension():
    assert close_matches("lama2.pdf", LIBRARY) == ["Llama2.pdf", "llama.pdf"]
    assert close_matches("report", LIBRARY) == ["annual report 2024.pdf"]
    assert close_matches("zzz.pdf", LIBRARY) == []


def test_every_reference_that_names_nothing_is_in_the_error():
    with pytest.raises(UnknownDocument) as error:
        select_documents(["qlora.pdf", "qlor", "nothing-like-it.pdf"], LIBRARY)
    assert str(error.value) == ("no document matches 'qlor' (did you mean qlora.pdf?); 'nothing-like-it.pdf'; "
                                "see `rag docs list`")


def test_in_an_empty_library_the_error_says_so():
    with pytest.raises(UnknownDocument, match="the library is empty"):
        select_documents(["qlora.pdf"], [])
