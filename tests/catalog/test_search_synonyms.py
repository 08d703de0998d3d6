"""catalog.search.synonyms: the shop's synonyms file, as every engine reads it."""

from pathlib import Path

import pytest

from catalog.search.synonyms import SynonymsInvalid, synonyms_parse

SAMPLE = Path(__file__).resolve().parents[2] / "sample_shop" / "synonyms.txt"


def test_an_equivalence_maps_every_term_to_all_and_one_way_rules_only_their_left_side():
    synonyms = synonyms_parse("T-Shirt, tee  # tops\ntrainers => sneakers, running shoes\n")
    assert synonyms.alternatives[("t", "shirt")] == (("t", "shirt"), ("tee",))
    assert synonyms.alternatives[("tee",)] == (("t", "shirt"), ("tee",))
    assert synonyms.alternatives[("trainers",)] == (("sneakers",), ("running", "shoes"))
    assert ("sneakers",) not in synonyms.alternatives
    assert synonyms.rules == ("T-Shirt, tee", "trainers => sneakers, running shoes")


def test_a_query_is_cut_into_the_longest_phrases_of_the_file():
    synonyms = synonyms_parse("t shirt, tee\nshirt, top\n")
    units = synonyms.units(["men", "t", "shirt", "shirt"])
    assert [phrase for phrase, _ in units] == [("men",), ("t", "shirt"), ("shirt",)]
    assert units[0][1] is None


@pytest.mark.parametrize(
    "text, line", [("tee, tshirt\nsneakers =>\n", 2), ("a => b => c", 1), ("\n\nlonely\n", 3)]
)
def test_a_line_that_is_not_a_rule_is_named(text, line):
    with pytest.raises(SynonymsInvalid, match=f"line {line}:"):
        synonyms_parse(text)


def test_the_sample_shops_synonyms_are_rules():
    synonyms = synonyms_parse(SAMPLE.read_text())
    assert ("tshirt",) in synonyms.alternatives and ("trainers",) in synonyms.alternatives
