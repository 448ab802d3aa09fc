"""The Korean catalog holds every string the pages use, each translated."""

from __future__ import annotations

import re

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from storefront.config import ROOT

KOREAN_CATALOG = ROOT / "storefront" / "translations" / "ko" / "LC_MESSAGES" / "messages.po"


def extracted_messages() -> set[tuple[str | None, str]]:
    """What `make translations` would collect now (babel.cfg, with lazy_gettext)."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2)}
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def korean_catalog():
    with open(KOREAN_CATALOG, "rb") as catalog:
        return read_po(catalog)


def test_the_korean_catalog_holds_every_string_the_code_uses():
    # A string added to a page without `make translations` is missing; one removed is stale.
    catalog = {(message.context, message.id if isinstance(message.id, str) else message.id[0])
               for message in korean_catalog() if message.id}
    extracted = extracted_messages()
    assert len(extracted) > 10
    assert sorted(extracted - catalog) == [], "run `make translations`, then translate them"
    assert sorted(catalog - extracted) == [], "run `make translations` to drop them"


def test_every_korean_string_is_translated_and_checked():
    untranslated = [message.id for message in korean_catalog()
                    if message.id and (not message.string or message.fuzzy
                                       or (isinstance(message.string, tuple)
                                           and not all(message.string)))]
    assert untranslated == []


def test_translations_keep_the_placeholders_of_their_string():
    # A translation that drops or renames %(amount)s fails at render time, on one page only.
    placeholder = re.compile(r"%\((\w+)\)[sd]")
    wrong = []
    for message in korean_catalog():
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if {*placeholder.findall(ids[0])} != {n for s in strings for n in placeholder.findall(s)}:
            wrong.append(ids[0])
    assert wrong == []


# A particle after a placeholder depends on how the word put there is read ("US$18.99이",
# "베이직 연간(으)로"), which the sentence cannot know: it is built so that none follows.
HEDGED_PARTICLE = re.compile(r"%\(\w+\)s(\(으\)로|이\(가\)|을\(를\)|은\(는\)|\(이\))")
PARTICLE_ON_AMOUNT = re.compile(r"%\((amount|price|now|old_price|new_price)\)s[이가을를은는]")


def test_korean_never_hangs_a_particle_on_an_amount_or_a_plan_name():
    hanging = []
    for message in korean_catalog():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        hanging += [text for text in strings
                    if text and (HEDGED_PARTICLE.search(text) or PARTICLE_ON_AMOUNT.search(text))]
    assert hanging == []
