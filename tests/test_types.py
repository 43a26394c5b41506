"""compile_type: the data types a method parameter may declare, their checks and CLI parsing."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import pytest

from catalog_cli.declarations._types import UnsupportedTypeError, compile_type, display_annotation

# -- check: scalars ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        (str, ["", "text"], [1, None, b"bytes", ["a"]]),
        (int, [0, -3, 10**20], [1.0, "1", None, True, False]),
        (float, [1.5, 0.0, 3, -7], ["1.5", None, True, [1.0]]),
        (bool, [True, False], [0, 1, "true", None]),
        (None, [None], [0, "", False, []]),
    ],
    ids=["str", "int", "float", "bool", "None"],
)
def test_scalar_check_accepts_and_rejects(annotation: Any, good: list[Any], bad: list[Any]):
    data_type = compile_type(annotation)
    for value in good:
        assert data_type.check(value) is None, value
    for value in bad:
        assert data_type.check(value) is not None, value


def test_bool_is_not_an_int():
    assert compile_type(int).check(True) == "expected int, got bool True"


def test_bool_is_not_a_float():
    assert compile_type(float).check(False) == "expected float, got bool False"


def test_int_is_accepted_for_float():
    assert compile_type(float).check(2) is None


def test_nonetype_and_none_compile_alike():
    assert compile_type(type(None)).display == compile_type(None).display == "None"


def test_check_message_names_expected_and_got():
    assert compile_type(str).check(5) == "expected str, got int 5"
    assert compile_type(None).check("x") == "expected None, got str 'x'"


def test_check_message_shortens_long_values():
    message = compile_type(int).check("x" * 100)
    assert message is not None
    assert message.startswith("expected int, got str 'xxx")
    assert message.endswith("...")
    assert len(message) < 80


@pytest.mark.parametrize("annotation", [Any, object])
def test_any_accepts_everything(annotation: Any):
    data_type = compile_type(annotation)
    for value in (None, 1, "a", [1], {"a": object()}):
        assert data_type.check(value) is None


# -- check: containers ---------------------------------------------------------------------


def test_list_accepts_lists_and_tuples_of_the_item_type():
    data_type = compile_type(list[int])
    assert data_type.check([1, 2]) is None
    assert data_type.check((1, 2)) is None
    assert data_type.check([]) is None


def test_list_rejects_a_non_list():
    assert compile_type(list[int]).check("12") == "expected list[int], got str '12'"


def test_list_names_the_bad_item():
    assert compile_type(list[int]).check([1, True]) == "item 1: expected int, got bool True"


def test_nested_list_names_the_inner_problem():
    problem = compile_type(list[list[str]]).check([["a"], ["b", 3]])
    assert problem == "item 1: item 1: expected str, got int 3"


def test_tuple_ellipsis_is_a_list():
    data_type = compile_type(tuple[str, ...])
    assert data_type.display == "list[str]"
    assert data_type.check(("a", "b")) is None
    assert data_type.check(["a", 1]) == "item 1: expected str, got int 1"


@pytest.mark.parametrize("annotation", [list, tuple])
def test_bare_list_and_tuple_hold_anything(annotation: Any):
    data_type = compile_type(annotation)
    assert data_type.display == "list[Any]"
    assert data_type.check([1, "a", None]) is None
    assert data_type.check({"a": 1}) is not None


def test_dict_accepts_string_keys_and_fitting_values():
    data_type = compile_type(dict[str, float])
    assert data_type.check({"a": 1.5, "b": 2}) is None
    assert data_type.check({}) is None


def test_dict_rejects_a_non_dict():
    assert compile_type(dict[str, int]).check([1]) == "expected dict[str, int], got list [1]"


def test_dict_names_a_non_string_key():
    assert compile_type(dict[str, int]).check({1: 1}) == "key 1: expected str"


def test_dict_names_the_key_of_a_bad_value():
    assert compile_type(dict[str, int]).check({"n": "x"}) == "key 'n': expected int, got str 'x'"


def test_bare_dict_holds_anything():
    data_type = compile_type(dict)
    assert data_type.display == "dict[str, Any]"
    assert data_type.check({"a": [None]}) is None


# -- check: Literal and unions -------------------------------------------------------------


def test_literal_accepts_only_its_values():
    data_type = compile_type(Literal["en", "es"])
    assert data_type.check("en") is None
    assert data_type.check("fr") == "expected one of 'en' | 'es', got str 'fr'"


def test_literal_compares_types_too():
    data_type = compile_type(Literal[1])
    assert data_type.check(1) is None
    assert data_type.check(True) == "expected one of 1, got bool True"
    assert data_type.check(1.0) is not None


def test_union_accepts_any_member():
    data_type = compile_type(int | str)
    assert data_type.check(1) is None
    assert data_type.check("a") is None
    assert data_type.check(1.5) == "expected int | str, got float 1.5"


def test_typing_union_is_the_same_as_the_pipe():
    assert compile_type(Union[int, str]).display == compile_type(int | str).display  # noqa: UP007


def test_optional_accepts_none_and_the_type():
    data_type = compile_type(Optional[int])  # noqa: UP045
    assert data_type.display == "int | None"
    assert data_type.check(None) is None
    assert data_type.check(3) is None
    assert data_type.check("3") == "expected int | None, got str '3'"


def test_union_with_containers_and_literals():
    data_type = compile_type(list[int] | Literal["all"] | None)
    assert data_type.display == "list[int] | Literal['all'] | None"
    assert data_type.check([1]) is None
    assert data_type.check("all") is None
    assert data_type.check(None) is None
    assert data_type.check("some") is not None


# -- parse: text from the command line -----------------------------------------------------


def test_str_is_taken_as_is():
    assert compile_type(str).parse(' 42 "x" ') == ' 42 "x" '


@pytest.mark.parametrize("text", ["true", "TRUE", "yes", "on", "1", " True "])
def test_bool_true_words(text: str):
    assert compile_type(bool).parse(text) is True


@pytest.mark.parametrize("text", ["false", "no", "Off", "0"])
def test_bool_false_words(text: str):
    assert compile_type(bool).parse(text) is False


def test_bool_rejects_other_words():
    with pytest.raises(ValueError, match=r"expected a boolean \(true/false\), got 'maybe'"):
        compile_type(bool).parse("maybe")


def test_int_parses_integers():
    assert compile_type(int).parse("-12") == -12


def test_int_rejects_decimals():
    with pytest.raises(ValueError, match=r"expected an integer, got '1\.5'"):
        compile_type(int).parse("1.5")


def test_float_parses_numbers():
    value = compile_type(float).parse("2.5")
    assert value == 2.5
    assert type(value) is float
    assert type(compile_type(float).parse("3")) is float


def test_float_rejects_words():
    with pytest.raises(ValueError, match="expected a number, got 'abc'"):
        compile_type(float).parse("abc")


@pytest.mark.parametrize("text", ["null", "None", ""])
def test_none_parses_null_words(text: str):
    assert compile_type(None).parse(text) is None


def test_none_rejects_other_text():
    with pytest.raises(ValueError, match="expected null, got 'x'"):
        compile_type(None).parse("x")


def test_list_parses_json():
    assert compile_type(list[int]).parse("[1, 2, 3]") == [1, 2, 3]


def test_dict_parses_json():
    assert compile_type(dict[str, float]).parse('{"a": 1.5}') == {"a": 1.5}


def test_bad_json_names_the_type_and_text():
    with pytest.raises(ValueError, match=r"expected JSON for list\[int\], got '\[1,' \("):
        compile_type(list[int]).parse("[1,")


def test_any_parses_json():
    assert compile_type(Any).parse('{"k": [true, null]}') == {"k": [True, None]}


def test_optional_str_parses_null_as_none():
    data_type = compile_type(str | None)
    assert data_type.parse("null") is None
    assert data_type.parse("None") is None


def test_optional_str_keeps_other_text():
    data_type = compile_type(str | None)
    assert data_type.parse("hello") == "hello"
    assert data_type.parse("") == ""


def test_optional_int_parses_the_int():
    data_type = compile_type(int | None)
    assert data_type.parse("7") == 7
    assert data_type.parse("null") is None
    with pytest.raises(ValueError, match="expected an integer"):
        data_type.parse("seven")


def test_literal_parses_strings_as_is_and_others_as_json():
    data_type = compile_type(Literal["en", 2, True])
    assert data_type.parse("en") == "en"
    assert data_type.parse("2") == 2
    assert data_type.parse("true") is True


def test_literal_parse_rejects_other_values():
    with pytest.raises(ValueError, match="expected one of 'en' \\| 'es', got 'fr'"):
        compile_type(Literal["en", "es"]).parse("fr")


def test_mixed_union_parses_json():
    assert compile_type(int | list[int]).parse("[1]") == [1]


# -- unsupported annotations ---------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [set[int], bytes, complex, frozenset, type, 3],
    ids=["set", "bytes", "complex", "frozenset", "type", "a number"],
)
def test_unsupported_annotation_lists_the_supported_types(annotation: Any):
    with pytest.raises(UnsupportedTypeError, match="is not a data type; use str, int") as info:
        compile_type(annotation)
    assert "list[T], dict[str, T], Literal[...] or a union" in str(info.value)


def test_unsupported_is_a_type_error():
    assert issubclass(UnsupportedTypeError, TypeError)


def test_fixed_length_tuple_is_unsupported():
    with pytest.raises(UnsupportedTypeError, match=r"only tuple\[T, \.\.\.\] is supported"):
        compile_type(tuple[int, str])


def test_dict_with_non_string_keys_is_unsupported():
    with pytest.raises(UnsupportedTypeError, match="dictionary keys must be str"):
        compile_type(dict[int, str])


def test_unsupported_member_of_a_union_is_reported():
    with pytest.raises(UnsupportedTypeError, match="bytes"):
        compile_type(int | bytes)


def test_unsupported_item_type_is_reported():
    with pytest.raises(UnsupportedTypeError, match="set"):
        compile_type(list[set[int]])


@pytest.mark.parametrize("annotation", [[int], {"a": int}], ids=["list", "dict"])
def test_unhashable_annotation_is_unsupported_not_a_crash(annotation: Any):
    with pytest.raises(UnsupportedTypeError, match="is not a data type"):
        compile_type(annotation)


# -- display names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "display"),
    [
        (str, "str"),
        (int, "int"),
        (float, "float"),
        (bool, "bool"),
        (None, "None"),
        (Any, "Any"),
        (list[str], "list[str]"),
        (dict[str, list[int]], "dict[str, list[int]]"),
        (Literal["a", 1], "Literal['a', 1]"),
        (float | str, "float | str"),
        (dict[str, float | str], "dict[str, float | str]"),
    ],
)
def test_display_names(annotation: Any, display: str):
    assert compile_type(annotation).display == display
    assert display_annotation(annotation) == display


def test_display_annotation_of_unsupported_types():
    assert display_annotation(type(None)) == "None"
    assert display_annotation(bytes) == "bytes"
    assert display_annotation(set[int]) == "set[int]"


def test_textual_only_for_str():
    assert compile_type(str).textual is True
    assert compile_type(int).textual is False
    assert compile_type(list[str]).textual is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), ("abc", "abc"), ('"12"', "12"), ("1.5", "1.5"), ("[1]", "[1]")],
)
def test_union_with_str_parses_fitting_json_else_keeps_text(text: str, expected: Any) -> None:
    assert compile_type(int | str).parse(text) == expected
