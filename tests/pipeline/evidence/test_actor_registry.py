"""The curated registry: errors name file and line, decisions keep the researchers' file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.evidence.actors.registry import RegistryError, add_decision, load_registry

REGISTRY = """\
# Curated by the research team: keep the comments.
actors:
  - name: Havas Media France
    kind: agency        # the Paris media-buying arm
    aliases: ["HAVAS MEDIA FRANCE SAS"]
same:
  - ["PT - Partido dos Trabalhadores", "Partido dos Trabalhadores"]
never_same:
  - ["Climate Power", "Climate Power Action"]
"""


def test_missing_file_means_no_curation(tmp_path: Path) -> None:
    registry = load_registry(tmp_path / "actors.yaml")
    assert (registry.actors, registry.same, registry.never_same) == ((), (), ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("actors:\n  - name: Havas: Media\n    kind: agency\n", "actors.yaml:2: not valid YAML"),
        ("actors:\n  - name: X\n    kind: partyy\n", "actors.yaml:3: kind 'partyy' is not one of"),
        ('same:\n  - ["A", "B", "C"]\n', "actors.yaml:2: a pair is a list of two names"),
        ("actor:\n  - name: X\n", "actors.yaml:1: unknown section 'actor'"),
        ("actors:\n  - kind: party\n", "actors.yaml:2: an actor needs a name"),
    ],
)
def test_a_bad_registry_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/{expected}") and "\n" not in message


def test_a_pair_both_same_and_never_same_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(
        REGISTRY + '  - ["Partido dos Trabalhadores", "PT - Partido dos Trabalhadores"]\n'
    )
    with pytest.raises(RegistryError, match=r"actors.yaml:10: never_same .* at line 7"):
        load_registry(path)


def test_decide_appends_one_line_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    add_decision(path, "same", "Beto for Texas", 'BETO "O\'ROURKE" FOR TEXAS')
    registry = add_decision(path, "never_same", "Labour Party", "Young Labour")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(REGISTRY.split("never_same:")[0].rsplit("\n", 1)[0])
    assert "# the Paris media-buying arm" in text
    assert [(p.left, p.right) for p in registry.same][-1] == (
        "Beto for Texas",
        'BETO "O\'ROURKE" FOR TEXAS',
    )
    assert [(p.left, p.right) for p in registry.never_same] == [
        ("Climate Power", "Climate Power Action"),
        ("Labour Party", "Young Labour"),
    ]


def test_a_contradicting_decision_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    with pytest.raises(RegistryError, match="contradicts"):
        add_decision(path, "same", "Climate Power Action", "Climate Power")
    assert path.read_text(encoding="utf-8") == REGISTRY


def test_decide_creates_the_file_and_fills_an_inline_list(tmp_path: Path) -> None:
    path = tmp_path / "actors.yaml"
    add_decision(path, "same", "A Corp", "A Corporation of Kenya")
    path.write_text(path.read_text() + "never_same: []\n")
    registry = add_decision(path, "never_same", "Jubilee Party", "Jubilee Youth")
    assert [(p.left, p.right) for p in registry.same] == [("A Corp", "A Corporation of Kenya")]
    assert [(p.left, p.right) for p in registry.never_same] == [("Jubilee Party", "Jubilee Youth")]


def test_decide_rewrites_a_non_empty_inline_list_as_a_block(tmp_path: Path) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text('same: [["A Corp", "A Corporation"], [B Ltd, "B Limited"]]\n')
    registry = add_decision(path, "same", "C Inc", "C Incorporated")
    assert [(p.left, p.right) for p in registry.same] == [
        ("A Corp", "A Corporation"),
        ("B Ltd", "B Limited"),
        ("C Inc", "C Incorporated"),
    ]
    assert path.read_text(encoding="utf-8").startswith("same:\n  - [")
