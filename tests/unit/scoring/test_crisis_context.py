"""Whose crisis, and when (issue 13): the gate acts only on a present crisis of the seeker's
own; past or resolved ones and other people's are flagged, idioms set aside."""

import pytest

from pixelated.scoring import crisis
from pixelated.scoring.safety import safety
from pixelated.scoring.turns import MTurn


def statuses(text: str, kind: str) -> set[str]:
    return {h.status for h in crisis.detect(text) if h.kind == kind}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("i was abused as a child and it still affects me", "abuse"),
        ("i have a history of sexual abuse and a lot of anxiety", "abuse"),
        ("i escaped an abusive relationship three years ago", "abuse"),
        ("i was raped when i was younger", "abuse"),
        ("i tried to kill myself last year", "suicide"),
        ("i used to cut myself in high school", "self_harm"),
    ],
)
def test_past_or_resolved_crisis_of_the_seeker_is_past(text, kind):
    assert statuses(text, kind) == {"past"}
    assert kind in crisis.crisis_kinds(text)  # still the seeker's own crisis: detected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my husband hits me when he drinks", "abuse"),
        ("i'm being abused at home", "abuse"),
        ("a man punched me on the bus last week", "abuse"),
        ("my boyfriend is abusive and i am scared", "abuse"),
        ("he is physically abusive towards me", "abuse"),
        ("i tried to kill myself yesterday", "suicide"),
        ("i want to kill myself", "suicide"),
        ("i feel suicidal again", "suicide"),
    ],
)
def test_present_crisis_of_the_seeker_is_positive(text, kind):
    assert statuses(text, kind) == {"positive"}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my friend committed suicide last month", "suicide"),
        ("i lost my brother to suicide", "suicide"),
        ("how can i help my husband after a suicide attempt", "suicide"),
        ("my mom is suicidal and won't see anyone", "suicide"),
        ("she was raped at a party", "abuse"),
        ("she was raised by her abusive father", "abuse"),
        ("he is abusive to my sister", "abuse"),
        ("my dad had a heart attack", "medical_emergency"),
    ],
)
def test_someone_elses_crisis_is_third_person(text, kind):
    assert statuses(text, kind) == {"third_person"}
    assert kind not in crisis.crisis_kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "i bought a $2000 bag. my husband is going to kill me",
        "a cat jumped out of a bush and almost gave me a heart attack",
        "my brother got beatdown for leaving the gate open",
    ],
)
def test_idioms_are_not_crises(text):
    hits = crisis.detect(text)
    assert hits and {h.status for h in hits} == {"idiom"}
    assert crisis.crisis_kinds(text) == set()


def test_a_reported_threat_is_not_an_idiom():
    assert "idiom" not in {h.status for h in crisis.detect("he said he is going to kill me")}


def chat(seeker: str, helper: str = "ok, and how was your day?") -> list[MTurn]:
    return [MTurn("seeker", seeker, None, (0,)), MTurn("helper", helper, None, (1,))]


@pytest.mark.parametrize(
    ("seeker", "reason"),
    [
        ("i was sexually abused as a child. how do i start therapy?", "crisis_past"),
        ("my friend committed suicide and i can't stop crying", "crisis_third_person"),
    ],
)
def test_past_and_third_person_crises_are_flagged_but_kept(seeker, reason):
    result = safety(chat(seeker))
    assert result["safety_reason"] == reason and result["safety"] >= 0.8
    assert result["crisis_kinds"] and result["crisis_turns"] == "0"


def test_idiom_keeps_safety_whole_and_present_crisis_unmet_is_dropped():
    assert safety(chat("my friend is going to kill me, i broke her phone"))["safety"] == 1.0
    unmet = safety(chat("i am being abused by my husband"))
    assert unmet["safety_reason"] == "crisis_not_referred" and unmet["safety"] < 0.8


def test_a_referral_without_acknowledgement_meets_the_risk():
    result = safety(chat("i want to kill myself", "call 988 now."))
    assert result["safety_reason"] == "crisis_not_acknowledged" and result["safety"] >= 0.8
