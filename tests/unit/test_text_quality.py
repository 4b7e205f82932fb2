"""Garbage detection in text layers and script shares (ingest.text_quality: pure functions)."""

from __future__ import annotations

import pytest

from ingest.text_quality import assess_text, script_counts, script_shares

ENGLISH = (
    "The harbour authority repaired the crane in March. It now lifts forty tonnes, and the quay was "
    "resurfaced before the autumn storms. Payment is due within thirty days of the delivery date."
)
CHINESE = "港口管理局在三月修好了起重机。它现在能吊起四十吨货物，码头也在秋季风暴之前重新铺设了路面。"
TABLE = "Parameter Min Typ Max Unit\nVDD 3.0 3.3 3.6 V\nIDD 20 mA\nfreq 2412 2484 MHz\nRPU 45 kΩ\nTX 20 dBm\n" * 3
TOC = "Contents\nPART I . . . . . . . . . . . . . . . . 1\nITEM 1. Business ............................ 4\n" * 4


def shifted(text: str) -> str:
    """What a broken ToUnicode map makes of lower-case letters: each one three letters on."""
    return "".join(chr((ord(c) - 97 + 3) % 26 + 97) if "a" <= c <= "z" else c for c in text)


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, TABLE, TOC, ENGLISH + "\n" + CHINESE],
                         ids=["english", "chinese", "datasheet-table", "table-of-contents", "mixed"])
def test_real_text_is_usable(text):
    quality = assess_text(text)
    assert quality.usable, quality
    assert not quality.garbled and quality.reason == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("".join(chr(0xE000 + ord(c)) if not c.isspace() else c for c in ENGLISH), "private-use glyphs"),
        ("(cid:3)(cid:17)(cid:42) (cid:5)(cid:9)" * 20, "(cid:N) codes"),
        ("\ufffd\ufffd \ufffd\ufffd\ufffd " * 30 + ENGLISH[:40], "replacement characters (U+FFFD)"),
        ("".join(chr(4 + (ord(c) % 20)) if c.isalpha() else c for c in ENGLISH), "control characters"),
        (ENGLISH[:120] + "\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12" * 2, "control characters"),
        (shifted(ENGLISH), "letters that spell no words (a broken ToUnicode map)"),
        (ENGLISH.encode("utf-8").decode("latin-1").replace("e", "Ã©") * 2, "mojibake (UTF-8 read as Latin-1)"),
        ("#$%&'()*+,-./:;<=>?@[]^_`{|}~ " * 10 + "ab", "mostly symbols (a broken font encoding)"),
    ],
    ids=["private-use", "cid", "replacement", "controls-instead-of-letters", "leaking-controls", "shifted",
         "mojibake", "symbol-soup"],
)
def test_garbage_is_found_and_named(text, reason):
    quality = assess_text(text)
    assert quality.garbled, quality
    assert quality.reason == reason
    assert not quality.usable


def test_a_page_with_little_or_no_text_has_no_text_layer_but_is_not_garbled():
    for text in ("", "   \n ", "12", "Figure 3"):
        quality = assess_text(text)
        assert not quality.has_text and not quality.garbled and not quality.usable


def test_pdfium_hyphen_markers_and_a_few_icons_are_not_garbage():
    text = ENGLISH.replace("autumn", "au\ufffe\r\ntumn").replace("repaired", "re\x02paired") + " \ue001 \ue002"
    assert assess_text(text).usable


def test_script_shares_tell_cjk_from_latin():
    counts = script_counts(ENGLISH + CHINESE)
    shares = script_shares(counts)
    assert list(shares) == ["latin", "cjk"]  # largest first
    assert shares["latin"] + shares["cjk"] == pytest.approx(1.0, abs=0.01)
    assert script_shares(script_counts(CHINESE)) == {"cjk": 1.0}
    assert script_shares(script_counts("Привет, мир")) == {"cyrillic": 1.0}
    assert script_shares({}) == {}


def test_a_script_below_the_minimum_share_is_not_reported():
    shares = script_shares(script_counts(ENGLISH * 10 + "港口"))
    assert shares == {"latin": 1.0}
