"""The built-in checkers: pure functions, each with the case that must fail."""

from __future__ import annotations

import pytest

from execbox.errors import ConfigError
from execbox.judge import checkers
from execbox.judge.checkers import builtin, exact, float_tokens, lines, tokens, unordered
from execbox.judge.judge import TestCase, text_checker
from execbox.judge.verdicts import Verdict

AC, WA = Verdict.AC, Verdict.WA


@pytest.mark.parametrize("output,expected,verdict", [
    ("5\n", "5\n", AC),
    ("5", "5\n", WA),  # exact is exact: the newline counts
    ("5\r\n", "5\n", WA),  # and so does a carriage return
    ("5 \n", "5\n", WA),
    ("", "", AC),
])
def test_exact(output, expected, verdict):
    assert exact(output, expected).verdict is verdict


def test_exact_feedback_points_at_the_first_difference():
    result = exact("1 2 3\n4 5 7\n", "1 2 3\n4 5 6\n")
    assert result.verdict is WA and "line 2" in result.feedback and "'6" in result.feedback


@pytest.mark.parametrize("output,expected,verdict", [
    ("5\n", "5", AC),
    ("5  \t\n\n\n", "5\n", AC),  # trailing whitespace and final blank lines
    ("1\r\n2\r\n", "1\n2\n", AC),  # CRLF line ends
    ("a b\nc\n", "a b\nc", AC),
    ("a  b\n", "a b\n", WA),  # spacing inside a line counts
    (" 5\n", "5\n", WA),  # leading whitespace counts (as in Judge0)
    ("1\n\n2\n", "1\n2\n", WA),  # a blank line in the middle counts
    ("1\n2\n", "1\n", WA),
    ("", "\n\n", AC),
    ("", "x", WA),
])
def test_lines(output, expected, verdict):
    assert lines(output, expected).verdict is verdict


def test_lines_says_which_line():
    result = lines("1\n2\n4\n", "1\n2\n3\n")
    assert result.feedback == "line 3: expected '3', got '4'"
    assert lines("1\n", "1\n2\n").feedback == "expected 2 line(s), got 1"


@pytest.mark.parametrize("output,expected,verdict", [
    ("1 2 3", "1\n2\n3\n", AC),
    ("  1\t2\r\n3  ", "1 2 3", AC),
    ("1 2", "1 2 3", WA),
    ("1 2 3 4", "1 2 3", WA),
    ("1 2 4", "1 2 3", WA),
    ("01", "1", WA),  # tokens are strings, not numbers
    ("1\u00a02", "1 2", WA),  # only ASCII whitespace separates tokens
    ("", "", AC),
])
def test_tokens(output, expected, verdict):
    assert tokens(output, expected).verdict is verdict


def test_tokens_feedback():
    assert tokens("1 2", "1 2 3").feedback == "the output ended after 2 token(s), expected 3"
    assert tokens("1 2 3 4", "1 2 3").feedback == "extra output: 4 token(s), expected 3"
    assert tokens("1 x", "1 y").feedback == "token 2: expected 'y', got 'x'"


@pytest.mark.parametrize("output,expected,options,verdict", [
    ("0.3333333", "0.333333333", {}, AC),
    ("0.333", "0.333333333", {}, WA),
    ("0.3334", "0.333333333", {"epsilon": 1e-3}, AC),
    ("1000000.1", "1000000", {"epsilon": 1e-6}, WA),  # absolute by default
    ("1000000.1", "1000000", {"epsilon": 1e-6, "relative": True}, AC),  # 1e-7 relative
    ("1000002", "1000000", {"epsilon": 1e-6, "relative": True}, WA),
    ("0.0000005", "0", {"epsilon": 1e-6, "relative": True}, AC),  # near 0: absolute
    ("1e3", "1000.0", {}, AC),
    ("-2.5", "-2.5000", {}, AC),
    ("x = 1.0000001", "x = 1", {}, AC),
    ("y = 1", "x = 1", {}, WA),  # words compare exactly
    ("one", "1", {}, WA),  # a number expected: a word is wrong
    ("nan", "NaN", {}, AC),
    ("inf", "inf", {}, AC),
    ("1e308", "inf", {}, WA),
    ("1 2", "1 2 3", {}, WA),
    ("1 2 3 4", "1 2 3", {}, WA),
])
def test_float(output, expected, options, verdict):
    assert float_tokens(output, expected, **options).verdict is verdict


def test_float_feedback_names_the_token_and_error():
    result = float_tokens("1 2.5", "1 2.4", epsilon=0.01)
    assert result.verdict is WA
    assert result.feedback == "token 2: expected 2.4, got 2.5 (absolute error over 0.01)"


@pytest.mark.parametrize("output,expected,verdict", [
    ("3\n1\n2\n", "1\n2\n3\n", AC),
    ("3 \r\n1\n2\n\n", "1\n2\n3", AC),
    ("1\n2\n", "1\n2\n3\n", WA),  # a line missing
    ("1\n2\n3\n3\n", "1\n2\n3\n", WA),  # one too many (lines are a multiset)
    ("1\n2\n4\n", "1\n2\n3\n", WA),
    ("1 2\n", "2 1\n", WA),  # lines in any order, not tokens
])
def test_unordered(output, expected, verdict):
    assert unordered(output, expected).verdict is verdict


def test_unordered_feedback():
    assert "missing" in unordered("1\n", "1\n2\n").feedback
    assert "unexpected" in unordered("1\n2\n", "1\n").feedback


def test_builtin_binds_options_and_refuses_bad_ones():
    check = builtin("float", {"epsilon": 0.5})
    assert check("1.4", "1").verdict is AC and check("1.6", "1").verdict is WA
    assert builtin("tokens")("a  b", "a b").verdict is AC
    assert set(checkers.BUILTIN) == {"exact", "lines", "tokens", "float", "unordered"}
    for name, options in [("nope", {}), ("tokens", {"epsilon": 1.0}),
                          ("float", {"epsilon": "x"}), ("float", {"epsilon": -1.0}),
                          ("float", {"relative": 1}), ("float", {"epsilon": True}),
                          ("float", {"epsilon": float("inf")})]:
        with pytest.raises(ConfigError):
            builtin(name, options)


def test_text_checker_reads_bytes_and_keeps_bad_utf8_distinct():
    check = text_checker(builtin("exact"))
    assert check(TestCase("1", expected=b"\xff\n"), b"\xff\n").verdict is AC
    result = check(TestCase("1", expected=b"\xfe\n"), b"\xff\n")
    assert result.verdict is WA and "\\xff" in result.feedback
    result.feedback.encode("utf-8")  # feedback is always valid text
    assert check(TestCase("1", expected="é\n".encode()), "é\n".encode()).verdict is AC
