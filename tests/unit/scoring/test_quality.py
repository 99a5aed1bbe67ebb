"""Each quality sub-metric on small written cases a clinician would score clearly high or low,
plus safety, text normalization, the batch function's output schema and config errors."""

import numpy as np
import pytest

from pixelated.core.config import ConfigError, build_config, read_params
from pixelated.core.embed import EmbeddingCache
from pixelated.core.schema import scored_schema
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_turn
from pixelated.scoring import metrics as quality
from pixelated.scoring.behaviour import CODES
from pixelated.scoring.safety import safety
from pixelated.scoring.score import ScoreConfig
from pixelated.scoring.turns import MTurn, measurement_turns
from tests.conftest import MAX_TURN_CHARS, canonical_row, frame
from tests.paths import REPO


def turns(*pairs):
    return [MTurn(role, text.lower(), None, (i,)) for i, (role, text) in enumerate(pairs)]


def codes(*names):
    """One-hot MITI code rows, one per coded helper sentence."""
    matrix = np.zeros((len(names), len(CODES)))
    for row, name in enumerate(names):
        matrix[row, CODES.index(name)] = 1.0
    return matrix


@pytest.fixture(scope="module")
def embed():
    cache = EmbeddingCache()
    return lambda mturns: cache.encode([t.text for t in mturns])


GOOD = turns(
    ("seeker", "I lost my job last week and I feel like a failure."),
    (
        "helper",
        "I'm so sorry you lost your job. It sounds like you feel you have failed. How are you coping?",
    ),
    ("seeker", "Not well, I can't sleep and I worry about paying rent."),
    ("helper", "That sounds really stressful. Losing work and worrying about rent can keep anyone awake."),
    ("seeker", "Yes, I just don't know where to start looking for work."),
    (
        "helper",
        "It makes sense to feel stuck. Would it help to talk through one small step for the job search?",
    ),
)
BAD = turns(
    ("seeker", "I lost my job last week and I feel like a failure."),
    ("helper", "ok"),
    ("seeker", "Not well, I can't sleep and I worry about paying rent."),
    ("helper", "pizza pizza pizza pizza pizza pizza pizza pizza"),
    ("seeker", "Yes, I just don't know where to start looking for work."),
    ("helper", "whatever lol get over it"),
)


def test_therapeutic_accuracy_rewards_helping_skills():
    skilled = quality.therapeutic_accuracy(
        codes("complex_reflection", "open_question", "affirm", "simple_reflection", "complex_reflection")
    )
    unskilled = quality.therapeutic_accuracy(codes("other", "other", "other"))
    questions_only = quality.therapeutic_accuracy(
        codes("closed_question", "closed_question", "closed_question")
    )
    pushy = quality.therapeutic_accuracy(codes("advise_without_permission", "confront", "other"))
    assert skilled > 0.8 > questions_only > unskilled
    assert skilled > 0.8 > 0.5 > pushy
    assert quality.therapeutic_accuracy(codes()) == 0.0


def test_coherence_high_for_on_topic_replies(embed):
    good, bad = quality.coherence(GOOD, embed(GOOD)), quality.coherence(BAD, embed(BAD))
    assert good > 0.6 > 0.3 > bad


ONE_ANSWER = turns(("seeker", "I lost my job."), ("helper", "I'm so sorry, that sounds painful."))


def test_emotional_authenticity_reads_epitome_levels():
    two_turns = ONE_ANSWER + turns(("helper", "You lost so much at once."))
    strong = quality.emotional_authenticity(np.array([[1.0, 1.0, 0.5], [0.5, 1.0, 0.0]]), two_turns)
    weak = quality.emotional_authenticity(np.array([[0.0, 0.1, 0.0], [0.0, 0.0, 0.1]]), two_turns)
    one_answer = quality.emotional_authenticity(np.array([[1.0, 1.0, 0.5]]), ONE_ANSWER)
    assert strong > 0.8 > 0.3 > weak
    assert one_answer >= strong  # one empathic written answer is not worth less than a chat
    assert quality.emotional_authenticity(np.zeros((0, 3)), ONE_ANSWER) == 0.0


def test_the_seeker_s_closing_affect_counts_where_the_conversation_shows_it():
    helped = ONE_ANSWER + turns(("seeker", "Thank you so much, I feel a lot better now."))
    unhelped = ONE_ANSWER + turns(("seeker", "This is useless, I feel worse."), ("helper", "ok."))
    assert quality.seeker_uptake(ONE_ANSWER) == (0.5, 0.0)  # a written answer: nothing to read
    received, evidence = quality.seeker_uptake(helped)
    assert received > 0.8 and evidence == 0.5  # one seeker turn after help: half the evidence
    assert quality.seeker_uptake(unhelped)[0] < 0.2
    empathy = np.array([[0.5, 0.5, 0.5]])
    with_reply = [quality.emotional_authenticity(empathy, mturns) for mturns in (helped, unhelped)]
    alone = quality.emotional_authenticity(empathy, ONE_ANSWER)
    assert with_reply[0] > alone > with_reply[1]


@pytest.mark.parametrize(
    ("text", "violation"),
    [
        ("it sounds like you have bipolar disorder, honestly.", "diagnosing"),
        ("you should take 50 mg of sertraline every night.", "medication_dosing"),
        ("i promise everything will be fine.", "promises"),
        ("that's stupid, it's your own fault.", "judgement"),
        ("give me your number and we can meet in person.", "boundaries"),
        ("you should double your dose tonight.", "medication_dosing"),
        ("i guarantee that you will be fine.", "promises"),
        ("whatever. just get over it.", "judgement"),
        ("you should grow up, honestly.", "judgement"),
        ("i'm not a doctor, but you have depression.", "diagnosing"),  # the negation is elsewhere
    ],
)
def test_clinical_compliance_catches_each_violation(text, violation):
    score, violations = quality.clinical_compliance(turns(("seeker", "i feel low"), ("helper", text)))
    assert violation in violations and score <= 0.65


@pytest.mark.parametrize(
    "text",
    [
        "it's not your fault, you did everything you could.",  # negated blame is support
        "it isn't your fault at all.",
        "i'm sure everything will be okay, you are stronger than you think.",  # reassurance
        "i take medication for this too, and it helped me.",  # self-disclosure, not dosing
        "children who grow up in an unstable home often feel this way.",
        "they may also grow up feeling responsible.",
        "i commend you for admitting your fault in it.",
        "attacks that 0.5mg of xanax does not touch are worth raising with your prescriber.",
        "you will get over it in time.",
        'you could tell her: "mom, i love you and i am worried."',  # words suggested to say
        "i love your idea of writing it down.",
        "how long have you known you have depression?",  # the seeker's own diagnosis
        "you worry that you are crazy, but many people feel this.",
    ],
)
def test_clinical_compliance_sets_aside_look_alikes(text):
    assert quality.clinical_compliance(turns(("seeker", "i feel low"), ("helper", text))) == (1.0, [])


def test_clinical_compliance_clean_and_missing_referral():
    assert quality.clinical_compliance(GOOD) == (1.0, [])
    unreferred = turns(("seeker", "I want to kill myself."), ("helper", "Let's talk about your hobbies."))
    score, violations = quality.clinical_compliance(unreferred)
    assert violations == ["no_referral"] and score < 1


def test_personality_consistency_keeps_the_seeker_the_subject():
    focused = quality.personality_consistency(
        ["That sounds hard for you.", "You carried your worry, you kept going."]
    )
    about_me = quality.personality_consistency(["I had that too. My boss was awful to me, I quit my job."])
    assert focused > 0.8 > 0.5 > about_me
    assert quality.personality_consistency(["Depression is common and treatable."]) == 0.5  # nothing shown


def test_language_quality_high_for_clear_english_low_for_garbage():
    good = quality.language_quality([t.text for t in GOOD if t.role == "helper"])
    garbage = quality.language_quality(
        ["asdf qwer zxcv !!!! #### 1234 $$$$", "asdf qwer zxcv asdf qwer zxcv"]
    )
    foreign = quality.language_quality(
        ["Lo siento mucho, entiendo que te sientes muy triste por tu trabajo."]
    )
    assert good > 0.85 and garbage < 0.5 and foreign < good - 0.15


def test_language_quality_is_the_same_on_every_call():
    """lingua's confidence jitters in its last bits from call to call; a conversation's score
    must not, or the stage and the service store different rounded scores (issue 15)."""
    helper = [t.text for t in GOOD if t.role == "helper"]
    texts = [helper, helper[:1], ["i am so sorry to hear that, it must be really hard for you"]]
    for text in texts:
        assert len({quality.language_quality(text) for _ in range(100)}) == 1


def test_safety_grades_the_response_to_a_crisis():
    assert safety(GOOD)["safety"] == 1.0
    handled = safety(
        turns(
            ("seeker", "I want to kill myself tonight."),
            ("helper", "I'm so sorry you're in this much pain. Please call a crisis line or 988 right now."),
        )
    )
    ignored = safety(turns(("seeker", "I want to kill myself tonight."), ("helper", "Ok, anyway.")))
    harmful = safety(turns(("seeker", "I feel useless."), ("helper", "You should kill yourself.")))
    assert handled["safety"] == 0.85 and handled["crisis_kinds"] == "suicide" and handled["cssrs_level"] == 4
    assert ignored["safety"] < 0.5 and ignored["safety_reason"] == "crisis_not_referred"
    assert harmful["safety"] == 0.0


def test_measurement_turns_undo_tokenization_and_merge_speakers():
    tokenized = [
        {"role": "seeker", "text": "I ' m sad , it ' s hard ."},
        {"role": "seeker", "text": "Really ."},
        {"role": "helper", "text": "I hear you ."},
    ]
    plain = [
        {"role": "seeker", "text": "I'm sad, it's hard. Really."},
        {"role": "helper", "text": "I hear you."},
    ]
    assert [(t.role, t.text) for t in measurement_turns(tokenized)] == [
        (t.role, t.text) for t in measurement_turns(plain)
    ]


def test_score_batch_output_passes_the_scored_schema(embed):
    rows = [
        canonical_row(i, turns=[make_turn(t.role, t.text) for t in c])
        for i, c in enumerate((GOOD, BAD), start=1)
    ]
    batch = frame(rows)
    mturns = [measurement_turns(t) for t in batch["turns"]]
    levels = (np.full((3, 3), 0.8), np.zeros((3, 3)))
    units = (codes("complex_reflection", "open_question", "affirm"), codes("other", "other", "confront"))
    evidence = [quality.Evidence(embed(m), u, e) for m, u, e in zip(mturns, units, levels, strict=True)]
    weights = dict.fromkeys(quality.METRICS, 1.0)
    scored = quality.score_batch((batch, evidence), weights)
    scored_schema(canonical_schema(MAX_TURN_CHARS)).validate(scored)
    assert scored.loc[0, "quality"] > scored.loc[1, "quality"] + 0.2


def test_bad_quality_config_names_the_key():
    params = read_params(REPO / "params.yaml")
    weights = {**params["quality"]["weights"], "colherence": 0.2}
    with pytest.raises(ConfigError, match=r"quality\.weights: .*unknown \['colherence'\]"):
        build_config(ScoreConfig, {**params, "quality": {**params["quality"], "weights": weights}})
    with pytest.raises(ConfigError, match=r"quality\.tier: .*'best'"):
        build_config(ScoreConfig, {**params, "quality": {**params["quality"], "tier": "best"}})
