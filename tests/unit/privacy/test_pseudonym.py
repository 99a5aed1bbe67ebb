"""Pseudonyms: one slot per person, matched by first or last name alone."""

from pixelated.privacy.pseudonym import Pseudonymizer


def test_person_slots_match_first_or_last_name_alone():
    names = Pseudonymizer("c1")
    assert [names.slot("PERSON", v) for v in ("Ana Lee", "Bo Chen", "Lee", "ana", "Cy")] == [1, 2, 1, 1, 3]
