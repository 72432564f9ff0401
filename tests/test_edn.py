"""The EDN reader behind Logseq's config.edn: comments and discards ignored, values as written."""

from __future__ import annotations

import math

import pytest
from kbagent.connectors.edn import EdnError, Keyword, Symbol, get, loads


def test_comments_and_discards_are_not_settings() -> None:
    text = """{:a 1
     ;; :pages-directory "your-directory"
     #_:journals-directory #_"skipped"
     :b "two" ; a trailing comment with a "quote
    }"""
    data = loads(text)
    assert data == {Keyword("a"): 1, Keyword("b"): "two"}
    assert get(data, "pages-directory") is None and get(data, "b") == "two"


def test_scalars() -> None:
    assert loads('[nil true false 42 -7 3.5 1e3 2N 1.5M 1/4 "a\\"b\\n\\u00e9" \\c \\newline \\( :k/v sym ?x]') == (
        None, True, False, 42, -7, 3.5, 1000.0, 2, 1.5, 0.25, 'a"b\né', "c", "\n", "(", Keyword("k/v"),
        Symbol("sym"), Symbol("?x"),
    )  # fmt: skip
    assert math.isinf(loads("##Inf")) and math.isnan(loads("##NaN"))


def test_collections_tags_and_commas() -> None:
    data = loads('{:set #{"NOW" "DOING"}, :list (fn [r] r), [1 2] :vector-key, :when #inst "2024-01-02"}')
    assert data[Keyword("set")] == frozenset({"NOW", "DOING"})
    assert data[Keyword("list")] == (Symbol("fn"), (Symbol("r"),), Symbol("r"))
    assert data[(1, 2)] == Keyword("vector-key")
    assert data[Keyword("when")] == "2024-01-02"
    assert loads('#"^a.*"') == "^a.*"


def test_nothing_but_comments_reads_as_nil() -> None:
    assert loads("") is None and loads(";; only a comment\n") is None
    assert get(None, "anything") is None and get([1], "x") is None


@pytest.mark.parametrize(
    "text", ['{:a "unterminated}', "{:a 1", "{:a}", "[1 2)", '"bad \\q escape"', "#_", "{{:a 1} 2}", "12abc"]
)
def test_malformed_text_is_an_edn_error_with_a_line(text: str) -> None:
    with pytest.raises(EdnError, match=r"line \d+"):
        loads(text)


def test_real_logseq_config_reads(shared_data) -> None:
    data = loads((shared_data / "logseq-docs" / "logseq" / "config.edn").read_text(encoding="utf-8"))
    assert get(data, "file/name-format") == Keyword("triple-lowbar")
    assert get(data, "hidden")[:2] == ("script", "README.md")
    assert get(data, "pages-directory") is None
