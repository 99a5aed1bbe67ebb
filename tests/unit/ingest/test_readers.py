"""Every registered reader on a small fixture, and every shared dataset through ingest.read_source."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pyarrow as pa_arrow
import pyarrow.parquet as pq
import pytest

from pixelated.core.schema import METADATA_COLUMNS, TURN_FIELDS
from pixelated.ingest.conversation import content_hash, make_turn, map_role, normalize_text, stable_id
from pixelated.ingest.ingest import read_source
from pixelated.ingest.readers import READERS, get_reader, register
from tests.conftest import FIXTURES, READ_OPTIONS

ESCONV_MAPPING = {
    "turns": "dialog",
    "role": "speaker",
    "text": "content",
    "turn_fields": {"strategy": "annotation.strategy", "feedback": "annotation.feedback"},
    "metadata": {
        "experience_type": "experience_type",
        "emotion_type": "emotion_type",
        "problem_type": "problem_type",
        "situation": "situation",
        "initial_emotion_intensity": "survey_score.seeker.initial_emotion_intensity",
        "final_emotion_intensity": "survey_score.seeker.final_emotion_intensity",
        "seeker_empathy": "survey_score.seeker.empathy",
        "seeker_relevance": "survey_score.seeker.relevance",
        "supporter_relevance": "survey_score.supporter.relevance",
        "seeker_question": "seeker_question1",  # not a typed column: goes to `extra`
    },
}
MULTIESC_MAPPING = {
    "turns": "dialog",
    "role": "speaker",
    "text": "text",
    "id": "id",
    "turn_fields": {"strategy": "strategy", "feedback": "feedback", "label": "all_strategy"},
    "metadata": {
        "emotion_type": "emotion_type",
        "initial_emotion_intensity": "init_intensity",
        "final_emotion_intensity": "final_intensity",
    },
}
COUNSEL_CFG = {
    "id": "",
    "thread": "questionID",
    "split": "split",
    "seeker_text": ["questionTitle", "questionText"],
    "helper_text": "answerText",
    "metadata": {
        "topic": "topic",
        "upvotes": "upvotes",
        "views": "views",
        "therapist_id": "therapistURL",
        "question_id": "questionID",
    },
}
ED_CFG = {
    "conversation": "Dialog_ID",
    "role": "Actor",
    "text": "Text",
    "turn_fields": {"label": "Label"},
    "context_rows": {"column": "Type", "value": "situation", "text_to": "situation"},
    "metadata_from_filename": "emotion_type",
}
HOPE_CFG = {"conversation": None, "role": "Type", "text": "Utterance", "turn_fields": {"label": "Dialog_Act"}}


def sha16(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def roles(row: dict) -> list[str]:
    return [t["role"] for t in row["turns"]]


def column(row: dict, field: str) -> list:
    return [t[field] for t in row["turns"]]


# --- conversation helpers -------------------------------------------------------------------


def test_registry_holds_exactly_the_documented_formats():
    assert set(READERS) == {
        "jsonl",
        "json",
        "parquet",
        "hf_dataset",
        "openai_chat",
        "utterance_csv",
        "qa_csv",
    }
    with pytest.raises(ValueError, match="unknown input format 'xml'"):
        get_reader("xml")
    with pytest.raises(ValueError, match="registered twice"):
        register("jsonl")(lambda path, source, options, ctx: iter(()))


def test_stable_id_is_sha256_of_parts_16_hex():
    assert stable_id("src", "rec-1") == sha16("src", "rec-1")
    assert len(stable_id("x")) == 16
    assert stable_id("src", "rec-1") != stable_id("src", "rec-2")
    assert stable_id("a", "bc") != stable_id("ab", "c")  # parts are separated, not concatenated


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Hi , what can I do ?", "hi, what can i do?"),
        ("I 'm fine . Thanks !", "I'm fine. Thanks!"),
        ("  two   spaces\n and a newline ", "two spaces and a newline"),
        ("ﬁne", "fine"),  # NFKC ligature
    ],
)
def test_content_hash_ignores_tokenization_spacing_and_case(left, right):
    assert normalize_text(left) == normalize_text(right)
    assert content_hash([make_turn("seeker", left)]) == content_hash([make_turn("seeker", right)])


def test_content_hash_depends_on_roles_and_words_not_annotations():
    base = [make_turn("seeker", "I feel low."), make_turn("helper", "Tell me more.")]
    annotated = [
        make_turn("seeker", "I feel low.", feedback="2"),
        make_turn("helper", "Tell me more.", strategy="Question"),
    ]
    swapped = [make_turn("helper", "I feel low."), make_turn("seeker", "Tell me more.")]
    reworded = [make_turn("seeker", "I feel lower."), make_turn("helper", "Tell me more.")]
    assert content_hash(base) == content_hash(annotated)
    assert content_hash(base) != content_hash(swapped)
    assert content_hash(base) != content_hash(reworded)


def test_make_turn_strips_text_types_feedback_and_rejects_unknown_fields():
    turn = make_turn("seeker", "  hello \n", feedback="5")
    assert turn == {"role": "seeker", "text": "hello", "strategy": None, "label": None, "feedback": 5}
    assert tuple(turn) == TURN_FIELDS
    with pytest.raises(KeyError):
        make_turn("seeker", "x", mood="sad")
    with pytest.raises(ValueError):
        make_turn("seeker", "x", feedback="very good")


def test_map_role_lowercases_known_names_and_keeps_unknown_verbatim():
    role_map = {"usr": "seeker", "sys": "helper", "t": "helper"}
    assert map_role(" USR ", role_map) == "seeker"
    assert map_role("T", role_map) == "helper"
    assert map_role("Narrator", role_map) == "Narrator"
    assert map_role(None, role_map) is None


# --- one fixture per reader -----------------------------------------------------------------


def test_json_reader_maps_esconv_record(read):
    rows, rejections = read("json", FIXTURES / "esconv_like.json", {"mapping": ESCONV_MAPPING})
    assert rejections == []
    assert len(rows) == 2
    first, second = rows
    # no id field mapped: records are numbered by position in the file
    assert first["source_record_id"] == "fixture/esconv_like.json#1"
    assert first["conversation_id"] == sha16("fixture", "fixture/esconv_like.json#1")
    assert first["source_line"] == 1 and second["source_line"] == 2
    assert first["source_file"] == "fixture/esconv_like.json"
    # roles seeker/supporter and speaker/listener both land on the canonical pair
    assert roles(first) == ["seeker", "helper", "seeker"]
    assert roles(second) == ["seeker", "helper"]
    assert column(first, "text")[0] == "Hi, what can I do about my job?"  # trailing newline stripped
    assert column(first, "strategy") == [None, "Question", None]
    assert column(first, "feedback") == [None, None, 4]
    assert first["n_turns"] == 3
    # survey scores are strings in the file and ints in the table
    assert first["experience_type"] == "Current Experience"
    assert first["emotion_type"] == "anxiety"
    assert first["problem_type"] == "job crisis"
    assert first["situation"] == "I might lose my job next month."
    assert (first["initial_emotion_intensity"], first["final_emotion_intensity"]) == (5, 4)
    assert (first["seeker_empathy"], first["seeker_relevance"], first["supporter_relevance"]) == (2, 3, 4)
    assert json.loads(first["extra"]) == {"seeker_question": "none"}
    # unfinished survey: missing scores are null, not zero
    assert second["initial_emotion_intensity"] == 3
    assert second["seeker_empathy"] is None and second["supporter_relevance"] is None
    assert json.loads(second["extra"]) == {"seeker_question": None}
    assert set(METADATA_COLUMNS) <= set(first)


def test_jsonl_reader_uses_record_ids_and_joins_list_labels(read):
    rows, rejections = read("jsonl", FIXTURES / "multiesc_like.jsonl", {"mapping": MULTIESC_MAPPING})
    assert rejections == []
    assert [r["source_record_id"] for r in rows] == ["mesc-1", "mesc-2"]
    assert [r["conversation_id"] for r in rows] == [sha16("fixture", "mesc-1"), sha16("fixture", "mesc-2")]
    assert [r["source_line"] for r in rows] == [1, 2]
    first, second = rows
    assert roles(first) == ["seeker", "helper", "seeker"]  # usr / sys
    assert column(first, "strategy") == [None, "Question", None]
    assert column(first, "feedback") == [None, None, 4]
    assert column(second, "label") == [None, "Reflection of feelings|Question"]
    assert (first["initial_emotion_intensity"], first["final_emotion_intensity"]) == (5, 2)
    assert first["emotion_type"] == "anxiety"


def test_tokenized_and_plain_variants_share_content_hash_not_id(read):
    esconv, _ = read("json", FIXTURES / "esconv_like.json", {"mapping": ESCONV_MAPPING})
    multiesc, _ = read("jsonl", FIXTURES / "multiesc_like.jsonl", {"mapping": MULTIESC_MAPPING})
    assert column(multiesc[0], "text")[0] == "Hi , what can I do about my job ?"
    assert [r["content_hash"] for r in esconv] == [r["content_hash"] for r in multiesc]
    assert esconv[0]["content_hash"] != esconv[1]["content_hash"]
    assert {r["conversation_id"] for r in esconv}.isdisjoint(r["conversation_id"] for r in multiesc)


def test_same_input_gives_identical_rows(read):
    once = read("jsonl", FIXTURES / "multiesc_like.jsonl", {"mapping": MULTIESC_MAPPING})
    again = read("jsonl", FIXTURES / "multiesc_like.jsonl", {"mapping": MULTIESC_MAPPING})
    assert once == again


def test_openai_chat_reader_maps_system_user_assistant(read):
    rows, rejections = read("openai_chat", FIXTURES / "openai_chat.jsonl")
    assert rejections == []
    assert [roles(r) for r in rows] == [["system", "seeker", "helper"], ["seeker", "helper"]]
    assert column(rows[0], "text")[1] == "I can't sleep."
    assert rows[1]["source_record_id"] == "fixture/openai_chat.jsonl#2"


def test_parquet_reader_reads_nested_list_of_struct_turns(read, tmp_path):
    turn_type = pa_arrow.struct(
        [("speaker", pa_arrow.string()), ("utterance", pa_arrow.string()), ("act", pa_arrow.string())]
    )
    table = pa_arrow.table(
        {
            "conv_id": ["p-1", "p-2"],
            "turns": pa_arrow.array(
                [
                    [
                        {"speaker": "client", "utterance": "I keep failing.", "act": "disclosure"},
                        {
                            "speaker": "therapist",
                            "utterance": "What does failing mean to you?",
                            "act": "open_q",
                        },
                    ],
                    [{"speaker": "patient", "utterance": "Hello.", "act": None}],
                ],
                type=pa_arrow.list_(turn_type),
            ),
            "meta": pa_arrow.array(
                [{"topic": "self-esteem", "votes": 7}, {"topic": "greeting", "votes": None}],
                type=pa_arrow.struct([("topic", pa_arrow.string()), ("votes", pa_arrow.int64())]),
            ),
            "lang": ["en", "en"],
        }
    )
    path = tmp_path / "sessions.parquet"
    pq.write_table(table, path)
    mapping = {
        "id": "conv_id",
        "role": "speaker",
        "text": "utterance",
        "turn_fields": {"label": "act"},
        "metadata": {"topic": "meta.topic", "upvotes": "meta.votes", "lang": "lang"},
    }
    rows, rejections = read("parquet", path, {"mapping": mapping}, options={"batch_size": 1})
    assert rejections == []
    assert [r["source_record_id"] for r in rows] == ["p-1", "p-2"]
    assert [r["source_line"] for r in rows] == [1, 2]
    assert roles(rows[0]) == ["seeker", "helper"]
    assert column(rows[0], "label") == ["disclosure", "open_q"]
    assert rows[0]["topic"] == "self-esteem" and rows[0]["upvotes"] == 7
    assert rows[1]["upvotes"] is None
    assert json.loads(rows[0]["extra"]) == {"lang": "en"}
    assert rows[1]["n_turns"] == 1


def test_hf_dataset_reader_takes_split_from_datasetdict(read, tmp_path):
    datasets = pytest.importorskip("datasets")
    train = datasets.Dataset.from_list(
        [
            {"id": "a", "topic": "x", "turns": [{"role": "user", "text": "hi", "intent": "greet"}]},
            {"id": "b", "topic": "y", "turns": [{"role": "assistant", "text": "hello", "intent": None}]},
        ]
    )
    test = datasets.Dataset.from_list(
        [{"id": "c", "topic": "z", "turns": [{"role": "user", "text": "bye", "intent": "close"}]}]
    )
    path = tmp_path / "hf"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(path))
    mapping = {"id": "id", "turn_fields": {"label": "intent"}, "metadata": {"topic": "topic"}}
    rows, rejections = read("hf_dataset", path, {"mapping": mapping})
    assert rejections == []
    by_id = {r["source_record_id"]: r for r in rows}
    assert set(by_id) == {"a", "b", "c"}
    assert [by_id[k]["source_split"] for k in "abc"] == ["train", "train", "test"]
    assert by_id["c"]["source_file"] == "fixture/hf/test"
    assert by_id["a"]["source_file"] == "fixture/hf/train"
    assert by_id["a"]["turns"][0] == make_turn("seeker", "hi", label="greet")
    assert roles(by_id["b"]) == ["helper"]
    assert by_id["a"]["topic"] == "x"
    assert by_id["a"]["conversation_id"] == sha16("fixture", "a")


def test_hf_dataset_reader_plain_dataset_and_split_field(read, tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "plain"
    datasets.Dataset.from_list(
        [
            {"turns": [{"role": "user", "text": "hi"}], "fold": "dev"},
            {"turns": [{"role": "user", "text": "yo"}], "fold": None},
        ]
    ).save_to_disk(str(path))
    rows, rejections = read("hf_dataset", path, {"mapping": {"split": "fold"}})
    assert rejections == []
    assert [r["source_split"] for r in rows] == ["dev", None]
    assert [r["source_record_id"] for r in rows] == ["fixture/plain#1", "fixture/plain#2"]


def test_utterance_csv_groups_dialogs_and_moves_situation_to_metadata(read):
    rows, rejections = read("utterance_csv", FIXTURES / "sad.csv", ED_CFG)
    assert rejections == []
    assert [r["source_record_id"] for r in rows] == ["hit:1_conv:1", "hit:2_conv:3"]
    assert [r["source_line"] for r in rows] == [2, 6]
    first, second = rows
    assert roles(first) == ["seeker", "helper", "seeker"]
    assert column(first, "text")[1] == "I am so sorry, is it treatable?"
    assert column(first, "label") == ["devastated", "questioning", "sad"]
    assert first["situation"] == "My dog is very ill."
    assert second["situation"] == "I passed my exam."
    assert {r["emotion_type"] for r in rows} == {"sad"}  # from the file name
    assert "situation" not in column(first, "text")
    assert (first["n_turns"], second["n_turns"]) == (3, 2)


def test_utterance_csv_whole_file_is_one_session_with_role_map(read):
    rows, rejections = read(
        "utterance_csv", FIXTURES / "hope_like.csv", HOPE_CFG, role_map={"T": "helper", "P": "seeker"}
    )
    assert rejections == []
    assert len(rows) == 1
    (session,) = rows
    assert session["source_record_id"] == "hope_like"
    assert roles(session) == ["helper", "seeker", "helper", "seeker"]
    assert column(session, "label") == ["gt", "gc", "irq", "id"]
    assert column(session, "text")[3] == "Work, mostly.\nIt never stops."  # quoted newline kept
    assert session["source_line"] == 2


def test_utterance_csv_unmapped_roles_are_kept_for_validate(read):
    rows, _ = read("utterance_csv", FIXTURES / "hope_like.csv", HOPE_CFG)
    assert roles(rows[0]) == ["T", "P", "T", "P"]


def test_qa_csv_builds_exchanges_threads_and_pseudonymizes(read):
    rows, rejections = read("qa_csv", FIXTURES / "qa_like.csv", COUNSEL_CFG, pseudonymize=["therapist_id"])
    assert rejections == []
    assert [r["source_record_id"] for r in rows] == ["0", "1", "2"]
    assert [r["source_line"] for r in rows] == [2, 3, 4]
    first, second, third = rows
    assert roles(first) == ["seeker", "helper"]
    assert column(first, "text")[0] == (
        "Why am I always tired?\n\nI sleep eight hours and still feel drained."
    )
    assert column(third, "text")[0] == "How do I stop worrying?"  # empty questionText skipped
    assert column(second, "text")[1] == "Let us look at your routine, your stress, and your mood."
    # answers to one question share a thread
    assert first["thread_id"] == second["thread_id"] == sha16("fixture", "7")
    assert third["thread_id"] == sha16("fixture", "9")
    assert first["conversation_id"] != second["conversation_id"]
    # therapist URL is replaced by a stable hash, equal for the same therapist
    assert first["therapist_id"] == third["therapist_id"] != second["therapist_id"]
    assert first["therapist_id"] == stable_id("fixture", "therapist_id", "https://example.org/therapists/a-b")
    assert all("http" not in r["therapist_id"] and len(r["therapist_id"]) == 16 for r in rows)
    assert [(r["upvotes"], r["views"]) for r in rows] == [(3, 120), (0, 120), (5, 40)]
    assert [r["topic"] for r in rows] == ["depression", "depression", "anxiety"]
    assert [r["source_split"] for r in rows] == ["train", "train", "test"]
    assert json.loads(first["extra"]) == {"question_id": "7"}


# --- the shared datasets through ingest.read_source ------------------------------------------

SOURCE_COUNTS = {
    "esconv_failed": 196,
    "esconv_multiesc": 390,
    "counsel_chat": 2129,
    "empathetic_intents": 9097,
    "hope_sample": 8,
    "mi_counselchat": 1129,
}


def test_shared_config_lists_the_six_sources(shared_sources):
    assert set(shared_sources) == set(SOURCE_COUNTS)


@pytest.mark.parametrize("name", sorted(SOURCE_COUNTS))
def test_shared_source_counts_match_source_md(shared_items, name):
    rows, rejections = shared_items[name]
    assert [r.describe() for r in rejections] == []
    assert len(rows) == SOURCE_COUNTS[name]
    assert len({r["conversation_id"] for r in rows}) == len(rows)
    assert all(r["source"] == name and r["source_file"].startswith(f"{name}/") for r in rows)


def test_shared_read_is_deterministic(shared_sources, shared_raw, shared_items, split_items):
    rows, _ = split_items(read_source(shared_raw, "hope_sample", shared_sources["hope_sample"], READ_OPTIONS))
    assert rows == shared_items["hope_sample"][0]


def _turns(shared_items, name):
    return [t for r in shared_items[name][0] for t in r["turns"]]


@pytest.mark.parametrize(
    ("name", "helpers", "seekers", "feedback"),
    [
        ("esconv_failed", 2377, 2853, 987),
        ("esconv_multiesc", 4646, 4573, 2340),
    ],
)
def test_esconv_strategy_on_helper_and_feedback_on_seeker(shared_items, name, helpers, seekers, feedback):
    turns = _turns(shared_items, name)
    by_role = Counter(t["role"] for t in turns)
    assert by_role == {"helper": helpers, "seeker": seekers}
    assert all(t["strategy"] for t in turns if t["role"] == "helper")
    assert not any(t["strategy"] for t in turns if t["role"] == "seeker")
    rated = [t for t in turns if t["feedback"] is not None]
    assert len(rated) == feedback
    assert {t["role"] for t in rated} == {"seeker"}
    assert {t["feedback"] for t in rated} <= {1, 2, 3, 4, 5}


def test_esconv_failed_metadata_and_survey(shared_items):
    rows = shared_items["esconv_failed"][0]
    assert sum(len(r["turns"]) for r in rows) == 5230
    assert Counter(r["seeker_empathy"] for r in rows) == {None: 54, 1: 27, 2: 51, 3: 25, 4: 21, 5: 18}
    assert sum(r["seeker_relevance"] is not None for r in rows) == 142
    assert sum(r["supporter_relevance"] is not None for r in rows) == 126
    assert all(r["initial_emotion_intensity"] in range(1, 6) for r in rows)
    assert all(r["emotion_type"] and r["problem_type"] and r["situation"] for r in rows)
    assert {r["experience_type"] for r in rows} == {"Current Experience", "Previous Experience"}
    assert "Questions" in {t["strategy"] for t in _turns(shared_items, "esconv_failed")}


def test_esconv_multiesc_metadata(shared_items):
    rows = shared_items["esconv_multiesc"][0]
    assert all(r["emotion_type"] and r["problem_type"] and r["situation"] for r in rows)
    assert all(r["initial_emotion_intensity"] in range(1, 6) for r in rows)
    assert all(r["final_emotion_intensity"] in range(1, 6) for r in rows)
    assert all(r["seeker_empathy"] is None for r in rows)  # not in this derivative
    assert Counter(r["source_file"] for r in rows) == {
        "esconv_multiesc/valid.txt": 195,
        "esconv_multiesc/test.txt": 195,
    }


def test_counsel_chat_topics_votes_therapists_threads(shared_items):
    rows = shared_items["counsel_chat"][0]
    assert len({r["topic"] for r in rows}) == 31
    assert Counter(r["source_split"] for r in rows) == {"train": 1839, "val": 173, "test": 117}
    assert all(isinstance(r["upvotes"], int) and isinstance(r["views"], int) for r in rows)
    assert all(r["therapist_id"] and len(r["therapist_id"]) == 16 for r in rows)
    assert not any("counselchat.com" in r["therapist_id"] for r in rows)
    assert all(roles(r) == ["seeker", "helper"] for r in rows)
    # answers to the same questionID share thread_id; one thread per question
    by_question: dict[str, set[str]] = {}
    for r in rows:
        by_question.setdefault(json.loads(r["extra"])["question_id"], set()).add(r["thread_id"])
    assert len(by_question) == 815
    assert all(len(threads) == 1 for threads in by_question.values())
    assert len({r["thread_id"] for r in rows}) == 815
    assert any(len(ids) > 1 for ids in _answers_per_thread(rows).values())


def _answers_per_thread(rows):
    answers: dict[str, list[str]] = {}
    for r in rows:
        answers.setdefault(r["thread_id"], []).append(r["conversation_id"])
    return answers


def test_empathetic_intents_situation_emotion_and_intents(shared_items):
    rows = shared_items["empathetic_intents"][0]
    assert all(r["situation"] for r in rows)
    assert Counter(r["emotion_type"] for r in rows)["sad"] == 857
    assert len({r["emotion_type"] for r in rows}) == 12
    turns = _turns(shared_items, "empathetic_intents")
    assert Counter(t["role"] for t in turns) == {"seeker": 20477, "helper": 18769}
    assert all(t["label"] for t in turns)
    helper_labels = Counter(t["label"] for t in turns if t["role"] == "helper")
    assert helper_labels["questioning"] == 6016 and helper_labels["acknowledging"] == 2800
    # situation rows are metadata, never turns
    first = rows[0]
    assert first["situation"] not in [t["text"] for t in first["turns"]]


def test_hope_dialog_acts_and_roles(shared_items):
    rows = shared_items["hope_sample"][0]
    turns = _turns(shared_items, "hope_sample")
    assert Counter(t["role"] for t in turns) == {"helper": 236, "seeker": 243}
    assert Counter(t["label"] for t in turns) == {
        "id": 156,
        "irq": 140,
        "gc": 69,
        "ynq": 41,
        "yna": 31,
        "ack": 28,
        "gt": 14,
    }
    assert {r["source_record_id"] for r in rows} == {"163", "204", "206", "27", "48", "67", "75", "97"}
    assert next(r for r in rows if r["source_record_id"] == "97")["n_turns"] == 26


def test_mi_counselchat_labels(shared_items):
    rows = shared_items["mi_counselchat"][0]
    turns = _turns(shared_items, "mi_counselchat")
    assert Counter(t["role"] for t in turns) == {"seeker": 1129, "helper": 8857}
    labels = Counter(t["label"] for t in turns if t["label"])
    assert sum(labels.values()) == 3074
    assert labels["Give Information"] == 1041 and labels["Advise without Permission"] == 972
    assert all(r["turns"][0]["role"] == "seeker" for r in rows)
    assert all(json.loads(r["extra"])["question_title"] for r in rows)


def test_hf_dataset_reader_reads_sequence_features_as_turns(read, tmp_path):
    """`Sequence({...})` features store turns as a dict of columns; they are transposed back."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"turns": datasets.Sequence({"role": datasets.Value("string"), "text": datasets.Value("string")})}
    )
    path = tmp_path / "seq"
    datasets.Dataset.from_dict(
        {"turns": [{"role": ["user", "assistant"], "text": ["hi", "hello"]}]}, features=features
    ).save_to_disk(str(path))
    rows, rejections = read("hf_dataset", path)
    assert rejections == []
    assert rows[0]["turns"] == [make_turn("seeker", "hi"), make_turn("helper", "hello")]
