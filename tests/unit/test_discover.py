"""`rag ingest` takes files, folders and globs."""

from pathlib import Path

from ingest.discover import discover


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4\n")
    return path


def test_a_folder_yields_its_pdfs_recursively(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.pdf")
    b = _touch(tmp_path / "sub" / "b.PDF")
    _touch(tmp_path / "notes.txt")
    files, unmatched = discover([str(tmp_path)])
    assert files == [a.resolve(), b.resolve()]
    assert unmatched == []


def test_a_glob_is_expanded(tmp_path: Path) -> None:
    a = _touch(tmp_path / "x1.pdf")
    _touch(tmp_path / "y1.pdf")
    files, _ = discover([str(tmp_path / "x*.pdf")])
    assert files == [a.resolve()]


def test_an_explicit_file_is_taken_whatever_its_extension(tmp_path: Path) -> None:
    odd = _touch(tmp_path / "scan.bin")
    assert discover([str(odd)])[0] == [odd.resolve()]


def test_duplicates_are_listed_once_and_missing_arguments_reported(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.pdf")
    files, unmatched = discover([str(a), str(tmp_path), str(tmp_path / "nope.pdf")])
    assert files == [a.resolve()]
    assert unmatched == [str(tmp_path / "nope.pdf")]
