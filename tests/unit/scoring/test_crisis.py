"""Crisis detector: clear positives, negatives, negated and hypothetical mentions, the C-SSRS
ladder, and precision/recall on the written part of the labelled set."""

import pytest

from pixelated.scoring import crisis, crisis_eval
from tests.paths import REPO


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I want to die.", "suicide"),
        ("I keep thinking about killing myself.", "suicide"),
        ("I cut myself last night.", "self_harm"),
        ("I'm going to hurt him when he gets home.", "harm_to_others"),
        ("My husband hits me when he drinks.", "abuse"),
        ("I took too many pills and feel dizzy.", "medical_emergency"),
    ],
)
def test_positive_cases_are_flagged_with_their_kind(text, kind):
    assert kind in crisis.crisis_kinds(text.lower())


@pytest.mark.parametrize(
    "text",
    [
        "this traffic is killing me",
        "i'm dying to see that movie",
        "my phone died",
        "my grandmother died last year",
        "i'm nervous about my deadline",
    ],
)
def test_everyday_language_is_not_flagged(text):
    assert crisis.crisis_kinds(text) == set()


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("i would never kill myself", "negated"),
        ("i'm not suicidal, just tired of exams", "negated"),
        ("i don't want to die", "negated"),
        ("what if i wanted to kill myself?", "hypothetical"),
        ("if i ever felt suicidal i would call my therapist", "hypothetical"),
    ],
)
def test_negated_and_hypothetical_mentions_are_set_aside(text, status):
    hits = crisis.detect(text)
    assert hits and {h.status for h in hits} == {status}
    assert crisis.crisis_kinds(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "i was so scared that anything could hurt him!",  # issue 13: a new mother about her baby
        "i'm worried someone will hurt her at school",
        "he said he would kill her if she left",
        "i keep the door locked in case anyone tries to hurt them",
    ],
)
def test_fear_for_others_and_other_agents_are_not_harm_to_others(text):
    assert "harm_to_others" not in crisis.crisis_kinds(text)
    assert {h.status for h in crisis.detect(text) if h.kind == "harm_to_others"} <= {"protective"}


@pytest.mark.parametrize(
    "text", ["i want to kill my boss", "i feel like i could kill him right now", "i'm going to hurt them"]
)
def test_own_intent_to_harm_others_is_still_flagged(text):
    assert "harm_to_others" in crisis.crisis_kinds(text)


def test_negation_immune_and_first_person_victim_phrases():
    assert "suicide" in crisis.crisis_kinds("i can't even bring myself to care if i live or die")
    assert "abuse" in crisis.crisis_kinds("i was abused as a child")
    assert "abuse" not in crisis.crisis_kinds("she was abused as a child")


def test_negation_does_not_cross_clauses():
    assert "suicide" in crisis.crisis_kinds("i'm not suicidal, but i want to end my life")


def test_cssrs_ladder_grades_severity():
    assert crisis.cssrs_level("sometimes i wish i was dead") == 1
    assert crisis.cssrs_level("i think about killing myself") == 2
    assert crisis.cssrs_level("i want to kill myself with pills") == 3
    assert crisis.cssrs_level("i'm going to kill myself tonight") == 4
    assert crisis.cssrs_level("i have a plan to kill myself") == 5
    assert crisis.cssrs_level("i tried to kill myself last year") == 6
    assert crisis.cssrs_level("i feel sad") == 0


def test_development_set_is_large_enough_and_written_cases_are_detected():
    labels = crisis_eval.read_labels(REPO / "data" / "labels" / "crisis_turns.csv")
    assert len(labels) >= 200 and labels["crisis"].astype(int).sum() >= 50
    written = labels[labels["origin"] == "written"]
    result = crisis_eval.detector(written, {})
    assert result["turns"] == len(written)
    assert result["precision"]["value"] >= 0.9 and result["recall"]["value"] >= 0.9
    assert result["accuracy_by_case"]["negated"]["value"] == 1.0
    assert result["accuracy_by_case"]["hypothetical"]["value"] == 1.0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # a negation word that negates nothing (NegEx's pseudo-negation)
        ("i can't stop thinking about suicide", "suicide"),
        ("i don't know how to deal with the violent outbursts", "abuse"),
        # C-SSRS item 1 and death as a preoccupation
        ("some nights i wish i could go to sleep and never wake up", "suicide"),
        ("i think about death all the time", "suicide"),
        # the behaviour without its object, profanity inside the phrase
        ("i have been cutting since march", "self_harm"),
        ("i can't take it, i want to kill my fucking self", "suicide"),
        # abuse named by the act done to the seeker or the abuser's trait
        ("i was molested as a child", "abuse"),
        ("he's really verbally and emotionally abusive", "abuse"),
        ("my father is very abusive with his words and actions", "abuse"),
        ("my dad hit me again last night", "abuse"),
        # a medical emergency that is still going on
        ("i threw up blood last weekend, and again yesterday", "medical_emergency"),
    ],
)
def test_round_two_positives(text, kind):
    assert kind in crisis.crisis_kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "i started cutting my grass the other day",
        "it really hit me how much i miss her",
        "hit me up when you're free",
        "my friend who is in an abusive relationship needs help",
        "the rage is violent, not me",
        "i passed out a few months ago after drinking too much",  # an emergency that is over
        "my grandfather died of a heart attack",
    ],
)
def test_round_two_look_alikes_are_not_the_seekers_crisis(text):
    assert crisis.crisis_kinds(text) == set()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # acts done to the seeker, with an adverb before the act
        ("i was sexually assaulted at a party last year", "abuse"),
        ("my ex would emotionally abuse me for years", "abuse"),
        ("my mother demeans me in front of everyone", "abuse"),
        ("he throws things at me when he's drunk", "abuse"),
        # the abuser's violence with a degree word, and a person as its subject
        ("my stepfather was very violent when he drank", "abuse"),
        # the seeker's own violence, and thoughts of killing people
        ("when i'm angry i hit him and i hate myself for it", "harm_to_others"),
        ("i keep having thoughts about killing people at work", "harm_to_others"),
        # inability is no denial of the thought
        ("i can't kill myself because of my kids", "suicide"),
        ("i feel so hopeless and like dying", "suicide"),
        ("this morning i threw up some blood", "medical_emergency"),
    ],
)
def test_round_three_positives(text, kind):
    assert kind in crisis.crisis_kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "the storm was so violent it knocked out the power",  # a thing, not a person, is violent
        "my landlord kicked me out last month",
        "a truck hit him on the highway",  # someone else's accident, not the seeker's violence
        "he grabbed her, hurt her and took her keys",  # the agent is in the clause before
        "my friend was living with an abusive family",  # the home is someone else's
        "i'm not suicidal, i would never kill myself",  # a denial stays a denial
    ],
)
def test_round_three_look_alikes_are_not_the_seekers_crisis(text):
    assert crisis.crisis_kinds(text) == set()
