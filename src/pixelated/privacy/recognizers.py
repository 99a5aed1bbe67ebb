"""Custom Presidio recognizers for what the stock ones miss in support conversations.

Stock Presidio finds emails, URLs, cards and (via spaCy) names, organisations and places, but
misses UK/international phone layouts, street addresses, zip/postcodes, social handles,
explicit dates of birth and self-stated ages. Each recognizer here is a regex pattern set with
context words (Presidio raises a match's score when a context word is near). Street suffixes
are the USPS list as Faker ships it, plus common UK ones, rather than a hand-kept list.
"""

from __future__ import annotations

import regex as re
from faker.providers.address.en_US import Provider as _UsAddress
from presidio_analyzer import Pattern, PatternRecognizer

# Case-sensitive on purpose: capitalisation is what tells "Oak Street" from "a street".
CASED = re.DOTALL | re.MULTILINE
UNCASED = CASED | re.IGNORECASE

_UK_SUFFIXES = ("Close", "Mews", "Row", "Walk", "Gardens", "Crescent", "Terrace", "Wharf", "Yard", "Green")
_SUFFIXES = sorted({*_UsAddress.street_suffixes, *_UK_SUFFIXES}, key=len, reverse=True)
_SUFFIX = "(?:" + "|".join(_SUFFIXES) + r")\.?"
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_US_STATE = (
    r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|"
    r"UT|V[AIT]|W[AIVY]|PR|GU|AS|MP)"
)
_NOT_A_QUANTITY = (
    r"(?!\s*(?:%|percent|am\b|pm\b|a\.m|p\.m|o'?clock|min|hour|hr|day|week|month|time|lb|kg|pound|"
    r"dollar|mg|mile|km|minute|second|point|:|\.\d|,\d))"
)


def _recognizer(entity: str, patterns: list[tuple[str, str, float]], context: list[str], flags: int):
    return PatternRecognizer(
        supported_entity=entity,
        name=f"Pixelated{entity.title().replace('_', '')}Recognizer",
        patterns=[Pattern(name, regex, score) for name, regex, score in patterns],
        context=context,
        supported_language="en",
        global_regex_flags=flags,
    )


def phone_recognizer() -> PatternRecognizer:
    """US (555-123-4567, (555) 123-4567, 555.123.4567 x12), UK (020 7946 0958, 07700 900123,
    +44 (0)20 ...) and international (+33 1 23 45 67 89) layouts."""
    ext = r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\d)"
    return _recognizer(
        "PHONE_NUMBER",
        [
            (
                "us",
                r"(?<![\w+.-])(?:\+?1[\s.-]?|001[\s.-])?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}"
                + ext
                + r"(?![\w-])",
                0.7,
            ),
            ("intl", r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(0\))?\(?\d{1,5}\)?(?:[\s.-]?\d{2,5}){1,4}" + ext, 0.7),
            ("uk", r"(?<![\w+])\(?0\d{2,4}\)?[\s-]?\d{3,4}[\s-]?\d{3,4}(?![\w-])", 0.6),
            ("ten_digits", r"(?<![\w+.-])\d{10,11}(?![\w-])", 0.5),
        ],
        ["phone", "call", "text", "number", "mobile", "cell", "tel", "reach", "whatsapp"],
        UNCASED,
    )


def street_address_recognizer() -> PatternRecognizer:
    """A house number, one to three capitalised words and a street suffix, with an optional
    Apt./Suite/Unit part: "17066 Heather Grove Apt. 915", "42 Oak Street"."""
    unit = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Unit|Flat|#)\s*\d+[A-Za-z]?)?"
    words = r"(?:[A-Z][a-z]+(?:[A-Z][a-z]+)?\s+){1,3}"  # "Oak", "McCarthy"
    return _recognizer(
        "STREET_ADDRESS",
        [
            (
                "numbered",
                r"\b\d{1,6}[A-Za-z]?\s+" + words + _SUFFIX + r"(?![\w])" + unit,
                0.75,
            ),
            (
                "uk_flat",
                r"\b(?:Flat|Studio|Apartment|Unit)\s+\d+[A-Za-z]?,\s+" + words + _SUFFIX + r"(?![\w])",
                0.75,
            ),
            ("po_box", r"\bP\.?\s?O\.?\s+Box\s+\d+\b", 0.75),
        ],
        ["live", "address", "street", "move", "moved", "house", "apartment", "home"],
        CASED,
    )


def zip_code_recognizer() -> PatternRecognizer:
    """US zip after a state code (scored high), a bare 5-digit zip (only with context), and UK
    postcodes."""
    return _recognizer(
        "ZIP_CODE",
        [
            ("state_zip", r"\b" + _US_STATE + r"\s+\d{5}(?:-\d{4})?\b", 0.8),
            ("zip_plus4", r"\b\d{5}-\d{4}\b", 0.6),
            ("zip", r"\b\d{5}\b", 0.2),
            ("uk_postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b", 0.7),
        ],
        ["zip", "zipcode", "postal", "postcode", "code", "address", "live", "area"],
        CASED,
    )


def date_of_birth_recognizer() -> PatternRecognizer:
    """Full calendar dates with a year (03/14/1987, 1987-03-14, March 14, 1987, 14th of March
    1987): quasi-identifiers whether or not "born" is said. Relative dates ("last week") stay."""
    year = r"(?:19|20)\d{2}"
    day = r"(?:0?[1-9]|[12]\d|3[01])"
    month = r"(?:0?[1-9]|1[0-2])"
    ordinal = r"(?:st|nd|rd|th)?"
    patterns = {
        "numeric_mdy": rf"\b{month}[/.-]{day}[/.-]{year}\b",
        "numeric_dmy": rf"\b{day}[/.-]{month}[/.-]{year}\b",
        "iso": rf"\b{year}-{month}-{day}\b",
        "month_day_year": rf"\b{_MONTH}\s+{day}{ordinal},?\s+{year}\b",
        "day_month_year": rf"\b{day}{ordinal}\s+(?:of\s+)?{_MONTH},?\s+{year}\b",
    }
    return _recognizer(
        "DATE_OF_BIRTH",
        [(name, pattern, 0.7) for name, pattern in patterns.items()],  # every full date alike
        ["born", "birthday", "birth", "dob", "b."],
        UNCASED,
    )


def age_recognizer() -> PatternRecognizer:
    """Ages tied to the speaker or a named person: "I'm 34", "34 years old", "aged 34",
    "34yo", "(34F)". A bare number is left alone."""
    age = r"\d{1,3}"
    return _recognizer(
        "AGE",
        [
            ("years_old", rf"\b{age}[\s-]?(?:years?|yrs?|yr)[\s-]?old\b", 0.75),
            ("aged", rf"\b(?:aged?|age:)\s*{age}\b", 0.75),
            ("yo", rf"\b{age}\s?(?:yo|y/o|y\.o\.)(?!\w)", 0.75),
            (
                "i_am",
                rf"\b(?:i'?m|i am|i’m)\s+(?:only\s+|just\s+|now\s+|turning\s+)?{age}\b{_NOT_A_QUANTITY}",
                0.7,
            ),
            ("age_sex", rf"[(\[]{age}\s?[mfMF][)\]]|\b{age}[MF]\b", 0.75),
        ],
        ["old", "age", "birthday", "turned"],
        UNCASED,
    )


def social_handle_recognizer() -> PatternRecognizer:
    """@handles (not the middle of an email) and profile URLs' usernames are caught as URLs."""
    return _recognizer(
        "SOCIAL_HANDLE",
        [("at_handle", r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@])", 0.8)],
        ["instagram", "twitter", "tiktok", "snapchat", "insta", "ig", "follow", "handle", "dm"],
        CASED,
    )


def url_recognizer() -> PatternRecognizer:
    """Whole URLs with a scheme or www.: the stock recognizer cuts some TLDs short (".bi" of
    ".biz") and leaves the path; a URL ends before trailing punctuation."""
    tail = r"[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]"
    return _recognizer(
        "URL",
        [("scheme", rf"\bhttps?://{tail}", 0.8), ("www", rf"\bwww\.{tail}", 0.7)],
        [],
        UNCASED,
    )


def titled_person_recognizer() -> PatternRecognizer:
    """Names after a title or an introduction ("Dr. Patel", "my name is Ana Lee"), which the
    small spaCy model often misses; only the name itself is matched."""
    name = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?(?:\s+[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)?"
    return _recognizer(
        "PERSON",
        [
            ("title", rf"(?<=\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor)\.?\s+){name}\b", 0.9),
            ("intro", rf"(?<=\b(?:[Mm]y name is|[Ii] am called|[Cc]all me|[Nn]amed)\s+){name}\b", 0.9),
        ],
        [],
        CASED,
    )


def organization_recognizer() -> PatternRecognizer:
    """Schools, universities, hospitals and companies by their generic head word."""
    words = r"(?:[A-Z][\w&'.-]*\s+){1,4}"
    heads = (
        r"(?:University|College|School|Academy|Institute|Hospital|Clinic|Church|Inc\.?|LLC|Ltd\.?|"
        r"Corp(?:oration)?\.?|Company|Group|and Sons|PLC)"
    )
    return _recognizer(
        "ORGANIZATION",
        [
            ("head_word", rf"\b{words}{heads}(?!\w)", 0.7),
            ("partners", r"\b[A-Z][a-z]+, [A-Z][a-z]+,? and [A-Z][a-z]+\b", 0.6),
            ("university_of", r"\bUniversity of(?:\s+[A-Z][a-z]+){1,3}\b", 0.75),
        ],
        ["work", "job", "school", "study", "employer", "company", "attend"],
        CASED,
    )


def custom_recognizers() -> list[PatternRecognizer]:
    return [
        phone_recognizer(),
        street_address_recognizer(),
        zip_code_recognizer(),
        date_of_birth_recognizer(),
        age_recognizer(),
        social_handle_recognizer(),
        url_recognizer(),
        titled_person_recognizer(),
        organization_recognizer(),
    ]
