"""Referral check: each way professionals refer, the issue-13 misfire, and look-alikes."""

import pytest

from pixelated.scoring import referral
from pixelated.scoring.safety import safety
from pixelated.scoring.turns import MTurn


@pytest.mark.parametrize(
    "text",
    [
        "You might find it helps to talk to your GP about how low you've been feeling.",  # provider
        "Please consider booking an appointment with a psychiatrist.",
        "A counselor who works with grief could really help you carry this.",
        "I'd recommend a rehab program or an intensive outpatient program (IOP).",  # programmes
        "A partial hospitalization program could give you structure.",
        "An inpatient stay may be the safest option right now.",
        "If you feel unsafe tonight, please call or text 988.",  # hotlines
        "You can ring the Samaritans any time, day or night.",
        "You can text HOME to 741741 to reach a crisis counselor.",
        "If you have taken the pills, call 911 now or go to the nearest ER.",  # emergency
        "Please go to A&E or phone 999 straight away.",
        "Is there someone you trust you could talk to about this tonight?",  # trusted person
        "Please tell a trusted adult, like a teacher, what has been happening.",
    ],
)
def test_each_way_of_referring_is_recognised(text):
    assert referral.refers(text.lower())


@pytest.mark.parametrize(
    "text",
    [
        "you don't need a therapist for this, it is a normal reaction.",  # negated
        "my doctor told me the same thing when i broke my leg.",  # the helper's own doctor
        "you should call your landlord and ask for an extension.",
        "i have 988 photos on my phone from that trip, ha.",
        "did you see the emergency room scene in that show?",
        "that sounds so painful, i'm really sorry.",
    ],
)
def test_look_alikes_are_not_referrals(text):
    assert not referral.refers(text)


MISFIRE = (
    "alcohol detox can be very dangerous so it is important that you do this under the supervision "
    "of a medical provider. although feeling hopeless is an uncomfortable feeling, know that there "
    "is hope. i really recommend an inpatient stay for at least 30 days. if this is not a "
    "possibility, then the next best thing would be an intensive outpatient program."
)


def test_issue_13_misfire_therapist_referral_is_handled():
    turns = [
        MTurn("seeker", "i keep drinking even though it's harming myself and others.", None, (0,)),
        MTurn("helper", MISFIRE, None, (1,)),
    ]
    result = safety(turns)
    assert referral.refers(MISFIRE)
    assert result["safety_reason"] == "crisis_handled" and result["safety"] >= 0.8


def test_unreferred_crisis_still_scores_low():
    turns = [
        MTurn("seeker", "i want to kill myself tonight.", None, (0,)),
        MTurn("helper", "ok, why?", None, (1,)),
    ]
    assert safety(turns)["safety_reason"] == "crisis_not_referred"


@pytest.mark.parametrize(
    ("text", "look_alike"),
    [
        (
            "i recommend that you contact a domestic violence shelter in your area.",
            "we adopted our dog from the animal shelter.",
        ),
        ("i would suggest that you connect with a provider who can help.", "connect with friends online."),
        (
            "look up the organizations in your area which help women to leave abusive relationships.",
            "the services that help the most are free.",
        ),
        (
            "i encourage you to get a good plan in place, and definitely get counseling.",
            "i started therapy last year and it helped me.",
        ),
        ("i urge you to get a counselor.", "i should get therapy myself, honestly."),
        ("find someone that you can trust to talk with.", "i trust you will find your way."),
        ("i do recommend you find someone to talk to.", "my doctor said i should rest more."),
    ],
)
def test_drop_review_referral_forms_and_their_look_alikes(text, look_alike):
    """The ways of referring the issue-13 drop review found missed, each beside a look-alike."""
    assert referral.refers(text)
    assert not referral.refers(look_alike)
