"""The call microformat `[Tool(input) → result]`: parsing, formatting and neutralising."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kbagent.microformat import (
    format_call,
    neutralize,
    parse_calls,
    pending_call,
    strip_calls,
    unquote,
)


def test_a_call_round_trips_through_format_and_parse() -> None:
    text = "Trip: " + format_call("Calculator", "14 - 21 + 30", "23") + " days."
    assert text == "Trip: [Calculator(14 - 21 + 30) → 23] days."
    [call] = parse_calls(text)
    assert (call.tool, call.input, call.result) == ("Calculator", "14 - 21 + 30", "23")
    assert text[call.start : call.end] == "[Calculator(14 - 21 + 30) → 23]"


def test_ascii_arrow_is_accepted() -> None:
    [call] = parse_calls("[Calendar() -> Today is Saturday, November 21, 2026.]")
    assert (call.tool, call.input, call.result) == ("Calendar", "", "Today is Saturday, November 21, 2026.")


def test_quoted_input_is_unquoted_and_may_contain_brackets_and_parentheses() -> None:
    [call] = parse_calls('[Search("a ] b ) c [Search(") → found]')
    assert call.argument == "a ] b ) c [Search("
    assert call.result == "found"
    assert unquote(" 「読書メモ」 ") == "読書メモ"


def test_nested_parentheses_in_input_and_nested_brackets_in_result() -> None:
    calls = parse_calls("x [Calculator((1+2)*3) → 9] y [Search(q) → see [link] and [[page]]] z")
    assert calls[0].input == "(1+2)*3"
    assert calls[1].result == "see [link] and [[page]]"


def test_unbalanced_bracket_in_result_closes_at_first_bracket() -> None:
    [call] = parse_calls("[Search(q) → a [b c] more")
    assert call.result == "a [b c"


def test_calls_without_result_and_unterminated_calls() -> None:
    calls = parse_calls("[Calendar()] then [Search(x) → cut off")
    assert [(c.tool, c.result, c.closed) for c in calls] == [("Calendar", None, True), ("Search", "cut off", False)]


def test_links_and_prose_brackets_are_not_calls() -> None:
    text = "See [Tokyo trip] and [https://example.org label], [x.icon] and [a](b)."
    assert parse_calls(text) == []
    assert strip_calls(text) == text


def test_strip_calls_leaves_the_prose() -> None:
    assert strip_calls("[Calendar() → Today is Monday.] It is [Calculator(2+2) → 4] four.") == "It is four."


def test_pending_call_is_the_call_the_text_ends_with() -> None:
    call = pending_call("So [Calculator(14 - 21 + 30) → ")
    assert call is not None and (call.tool, call.argument, call.error) == ("Calculator", "14 - 21 + 30", None)
    call = pending_call('[Search("a [Search(b)") ->')
    assert call is not None and call.argument == "a [Search(b)"
    call = pending_call("[Note(s) are here. [Search(x) →")
    assert call is not None and (call.tool, call.argument) == ("Search", "x")
    call = pending_call("[Calculator(1) → 1] text [Search(x) →")
    assert call is not None and call.tool == "Search"


def test_pending_call_ignores_arrows_in_prose() -> None:
    assert pending_call("a -> b ->") is None
    assert pending_call("see [link] ok →") is None
    assert pending_call("no arrow [Search(x)") is None


def test_pending_call_is_lenient_but_reports_malformed_calls() -> None:
    missing_paren = pending_call('[Search("x" →')
    assert missing_paren is not None and (missing_paren.argument, missing_paren.error) == ("x", None)
    no_parens = pending_call("[Calendar →")
    assert no_parens is not None and (no_parens.tool, no_parens.error) == ("Calendar", None)
    garbage = pending_call("[Search(x) oops ->")
    assert garbage is not None and garbage.error is not None and "malformed" in garbage.error
    nameless = pending_call("[(2+2) →")
    assert nameless is not None and nameless.error is not None


def test_pending_call_looks_only_after_start() -> None:
    spliced = "[Search(x) → the note says [Calculator(1+1)]"
    text = spliced + " so →"
    assert pending_call(text, start=len(spliced)) is None


def test_neutralized_text_contains_no_call() -> None:
    note = "Budget: [Calculator(2+2) → 4] and [Search(\"secret\") -> x] and [Calendar() →"
    safe = neutralize(note)
    assert parse_calls(safe) == []
    assert pending_call(safe) is None
    assert "Calculator(2+2)" in safe


@given(st.text(max_size=300))
def test_neutralized_anything_never_parses_as_a_call(text: str) -> None:
    safe = neutralize(text)
    assert parse_calls(safe) == []
    assert pending_call(safe) is None
    assert pending_call("Result: " + safe + " ->") is None


@given(st.text(alphabet="[]()→->\"' aSearch1+", max_size=200))
def test_parser_never_crashes_on_bracket_soup(text: str) -> None:
    for call in parse_calls(text):
        assert 0 <= call.start < call.end <= len(text)
    pending_call(text)
    strip_calls(text)
