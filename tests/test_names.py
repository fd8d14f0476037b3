import pytest

from bachata_sep.names import MAX_NAME_CHARS, markdown_escaped, printable, safe_stem


@pytest.mark.parametrize(
    ("file_name", "stem"),
    [
        ("my song.wav", "my song"),
        ("...wav", "song"),
        ("..", "song"),
        ("a/../../b.flac", "a_.._.._b"),
        ("..\\evil.wav", "_evil"),
        (".hidden.wav", "hidden"),
        ("tab\there\n.wav", "tabhere"),
        ("", "song"),
    ],
)
def test_stems_are_one_harmless_path_component(file_name, stem):
    assert safe_stem(file_name) == stem


def test_printable_drops_control_characters_and_caps_the_length():
    assert printable("a\x00b\x1b[31mc\u202ed\n") == "ab[31mcd"
    long = printable("x" * 10_000_000)
    assert len(long) == MAX_NAME_CHARS and long.endswith("…")


def test_markdown_escaping_shows_a_name_literally():
    assert markdown_escaped("**bold** [link](http://x) <b>") == (
        r"\*\*bold\*\* \[link\](http://x) \<b\>"
    )
