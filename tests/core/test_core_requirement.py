"""Requirement strings (CONTRACTS §4): `NAME[VARIANT=VALUE,...] SPECIFIER`."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.errors import FormatError, MlenvError, RequirementError
from mlenv.requirement import Requirement, parse_requirement, parse_version


def caret_span(why: str) -> tuple[str, int, int]:
    """(text line, start, end) of the caret line under the text in a `why`."""
    text, carets = why.split("\n")
    start = len(carets) - len(carets.lstrip(" "))
    assert set(carets[start:]) == {"^"}, why
    return text, start, len(carets)


@pytest.mark.parametrize(
    ("text", "name", "variants", "spec"),
    [
        ("onnxruntime[device=cuda] >=1.18,<2", "onnxruntime", {"device": "cuda"}, ">=1.18,<2"),
        ("numpy<2", "numpy", {}, "<2"),
        ("digits", "digits", {}, ""),
        ("inference-engine", "inference-engine", {}, ""),
        ("resnet50[precision=int8]", "resnet50", {"precision": "int8"}, ""),
        ("a[x=1, y=b2]", "a", {"x": "1", "y": "b2"}, ""),
        ("a[y=2,x=1]==1.0", "a", {"x": "1", "y": "2"}, "==1.0"),
        ("  torch >= 2.1 ", "torch", {}, ">=2.1"),
        ("cuda-runtime >=12,<13", "cuda-runtime", {}, ">=12,<13"),
        ("py.tool_x ~=1.4", "py.tool_x", {}, "~=1.4"),
        ("a[x=1,x=1]", "a", {"x": "1"}, ""),
        ("gcc[lang=c++]", "gcc", {"lang": "c++"}, ""),
    ],
)
def test_valid_requirements(text: str, name: str, variants: dict[str, str], spec: str) -> None:
    req = parse_requirement(text)
    assert req.name == name
    assert req.variant_map == variants
    assert req.specifier == SpecifierSet(spec)


def test_variants_are_sorted_and_hashable() -> None:
    a = parse_requirement("a[z=1,b=2]")
    b = parse_requirement("a[b=2,z=1]")
    assert a.variants == (("b", "2"), ("z", "1"))
    assert a == b
    assert hash(a) == hash(b)


def test_str_is_normalized_and_reparses() -> None:
    req = parse_requirement("onnxruntime[device=cuda]   >=1.18,<2")
    assert str(req) == "onnxruntime[device=cuda] <2,>=1.18"
    assert parse_requirement(str(req)) == req
    assert str(parse_requirement("digits")) == "digits"


def test_allows_uses_the_specifier() -> None:
    req = parse_requirement("onnxruntime >=1.18,<2")
    assert req.allows(Version("1.20.1"))
    assert not req.allows(Version("1.17"))
    assert not req.allows(Version("2.0"))
    assert parse_requirement("x").allows(Version("0.0.1"))


def test_requirement_default_fields() -> None:
    req = Requirement(name="x")
    assert req.variants == ()
    assert str(req.specifier) == ""


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("Onnxruntime", "Onnxruntime"),  # upper case name
        ("", ""),
        ("-a", "-a"),
        ("onnxruntime[device=cuda", "[device=cuda"),  # unclosed
        ("onnxruntime[device] >=1", "device"),
        ("onnxruntime[device=cuda,precision] >=1", "precision"),
        ("a[x=1,x=2]", "x=2"),  # one variant, two values
        ("numpy >=1.x", ">=1.x"),
        ("numpy <2 extra", "<2 extra"),
        ("a[x=1]]", "]"),
        ("a[x=@]", "x=@"),
    ],
)
def test_invalid_requirements_point_a_caret_at_the_bad_span(text: str, bad: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse_requirement(text)
    err = info.value
    assert isinstance(err, FormatError)
    assert isinstance(err, MlenvError)
    assert repr(text) in err.message
    assert err.why is not None
    line, start, end = caret_span(err.why)
    assert line == text
    if bad:
        assert text.rfind(bad) == start, err.why
        assert text[start:end].strip() == bad.strip(), err.why
    else:
        assert start == 0
    assert err.hint and "NAME[VARIANT=VALUE" in err.hint
    # the rendered error carries the caret too
    assert err.why in str(err)


def test_requirement_error_where_is_passed_through() -> None:
    with pytest.raises(RequirementError) as info:
        parse_requirement("Bad", where="mlenv.yaml:3: requires[0]")
    assert info.value.where == "mlenv.yaml:3: requires[0]"
    assert "at mlenv.yaml:3: requires[0]" in str(info.value)


def test_parse_version() -> None:
    assert parse_version("1.20.1") == Version("1.20.1")
    with pytest.raises(RequirementError) as info:
        parse_version("one.two", where="x.yaml")
    assert "one.two" in info.value.message
    assert info.value.where == "x.yaml"
