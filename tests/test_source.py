"""The YAML loader: YAML 1.2 scalars, duplicate keys, safe tags, positions, hostile input."""

from __future__ import annotations

import math

import pytest

from engine.lang.source import decode, load_document


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("null", None),
        ("~", None),
        ("", None),
        ("12", 12),
        ("-3", -3),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("012", 12),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("2001-12-14", "2001-12-14"),
        ("'true'", "true"),
        ('"12"', "12"),
        ("1:30", "1:30"),
    ],
)
def test_yaml_1_2_core_schema_scalars(text: str, expected: object) -> None:
    doc = load_document(f"key: {text}\n", "x.yaml")
    assert doc.diagnostics == []
    assert doc.data == {"key": expected}
    assert type(doc.data["key"]) is type(expected)


def test_special_floats() -> None:
    doc = load_document("a: .inf\nb: -.Inf\nc: .nan\n", "x.yaml")
    assert doc.data["a"] == math.inf and doc.data["b"] == -math.inf and math.isnan(doc.data["c"])


def test_on_key_stays_a_string() -> None:
    assert list(load_document("on:\n  events: [push]\n", "x.yaml").data) == ["on"]


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = load_document("name: demo\nnodes:\n  a:\n    uses: core.log\n", "x.yaml")
    assert (doc.source_map.key(("nodes", "a")).line, doc.source_map.key(("nodes", "a")).column) == (
        3,
        3,
    )
    value = doc.source_map.value(("nodes", "a", "uses"))
    assert (value.line, value.column) == (4, 11)


def test_duplicate_keys_at_every_level_are_reported() -> None:
    doc = load_document("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "x.yaml")
    assert [(d.line, d.check) for d in doc.diagnostics] == [
        (4, "duplicate-key"),
        (5, "duplicate-key"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['id']",
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!custom thing",
    ],
)
def test_object_building_tags_are_refused(value: str) -> None:
    doc = load_document(f"key: {value}\n", "x.yaml")
    assert "yaml-tag" in [d.check for d in doc.diagnostics]


def test_alias_bomb_is_refused_not_expanded() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        items = ", ".join([f"*{prev}"] * 10)
        lines.append(f"{cur}: &{cur} [{items}]")
    doc = load_document("\n".join(lines) + "\n", "x.yaml")
    assert [d.check for d in doc.diagnostics] == ["yaml-syntax"]
    assert "size limit" in doc.diagnostics[0].message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"name: \xff\xfe\n", "file is not UTF-8 (byte 0xff)"),
        (b"\x00\x01\x02", "file is binary (it holds NUL bytes)"),
    ],
)
def test_undecodable_bytes_are_a_problem(raw: bytes, message: str) -> None:
    text, problem = decode(raw, "x.yaml")
    assert text is None and problem is not None
    assert (problem.check, problem.message) == ("file-encoding", message)


def test_utf8_bom_is_accepted() -> None:
    text, problem = decode("\ufeffname: x\n".encode(), "x.yaml")
    assert (text, problem) == ("name: x\n", None)
