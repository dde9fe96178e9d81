"""The voices text to speech speaks with, read from espeak-ng itself, and how a request picks one.

A voice is one of espeak-ng's language voices (``en-us``, ``fr-fr``, ``de``...),
alone (espeak-ng's own voice for it) or with one of a few of its voice
variants (``en-us+f3``: female; ``+m3``: another male; ``+klatt``: Klatt
formant synthesis). Ids are lower-case and stable across hosts with the same
espeak-ng data; the catalogue is whatever the installed espeak-ng lists, so a
language it lacks is refused, never spoken with the wrong rules.

A request names a language (ISO 639-1, optionally with a region: ``en``,
``en-gb``, ``pt-br``), a voice, both or neither; ``default`` (or nothing) means
the language's default voice (``en-us`` for English, else espeak-ng's own
preference), and a voice that does not speak the requested language is an
error rather than a surprise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import FieldViolation

# Variants offered with every language voice: espeak-ng variant file -> (label, gender).
VARIANTS = {"f3": ("female", "female"), "m3": ("male (m3)", "male"), "klatt": ("Klatt synthesis", "male")}
# The default voice of a bare language where espeak-ng's own preference is not what users here expect.
DEFAULT_VOICES = {"en": "en-us"}
DEFAULT_LANGUAGE = "en"
DEFAULT_VOICE_ALIAS = "default"
_GENDERS = {"M": "male", "F": "female"}
_LINE = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$")
_ALIAS = re.compile(r"\(([^\s()]+)\s+(\d+)\)")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,4}$")
MAX_LANGUAGE_CHARS = 35


@dataclass(frozen=True, slots=True)
class Voice:
    voice_id: str
    name: str
    language: str  # primary subtag: en, fr, cmn
    code: str  # espeak-ng's language code, lower-case: en-us, fr-fr
    gender: str
    espeak: str  # what `espeak-ng -v` takes: gmw/en-US+f3
    aliases: tuple[tuple[str, int], ...] = ()  # other language tags it speaks, with espeak-ng's priority
    variant: str = ""

    def speaks(self, language: str) -> bool:
        """Whether this voice speaks `language` (a normalized tag): its own, or one espeak-ng lists for it."""
        primary = language.split("-")[0]
        return primary == self.language or any(primary == tag.split("-")[0] for tag, _ in self.aliases)


def normalize_language(text: str) -> str:
    """`EN_us ` -> `en-us`; the shape is checked by :func:`language_problem`."""
    return text.strip().lower().replace("_", "-")


def language_problem(language: str) -> str | None:
    """Why a normalized language tag is malformed, or None."""
    if len(language) > MAX_LANGUAGE_CHARS or not _LANGUAGE.match(language):
        return "an ISO 639-1 language code such as en, es or fr, optionally with a region (en-us, pt-br)"
    return None


def parse_voices(listing: str) -> list[tuple[str, str, str, str, tuple[tuple[str, int], ...]]]:
    """Rows of `espeak-ng --voices`: (language code, name, gender, file, aliases)."""
    rows = []
    for line in listing.splitlines()[1:]:
        found = _LINE.match(line)
        if found is None:
            continue
        _priority, code, age_gender, name, file, rest = found.groups()
        aliases = tuple((tag.lower(), int(priority)) for tag, priority in _ALIAS.findall(rest))
        gender = _GENDERS.get(age_gender.rpartition("/")[2], "neutral")
        rows.append((code, name.replace("_", " ").strip(), gender, file, aliases))
    return rows


def parse_variants(listing: str) -> set[str]:
    """The variant files `espeak-ng --voices=variant` lists (`!v/f3` -> `f3`)."""
    names = set()
    for line in listing.splitlines()[1:]:
        found = _LINE.match(line)
        if found is not None and found.group(5).startswith("!v/"):
            names.add(found.group(5)[3:])
    return names


class VoiceCatalogue:
    """Every voice, by id, with the rules that pick one for a request."""

    def __init__(self, voices: Iterable[Voice]) -> None:
        self._voices = sorted(voices, key=lambda v: v.voice_id)
        self._by_id = {v.voice_id: v for v in self._voices}

    @classmethod
    def from_listings(cls, languages: str, variants: str) -> VoiceCatalogue:
        rows = parse_voices(languages)
        available = parse_variants(variants)
        codes = [code.lower() for code, *_ in rows]
        voices: list[Voice] = []
        for code, name, gender, file, aliases in rows:
            lower = code.lower()
            # Two voices share a code (Cantonese, and Cantonese in Jyutping): the file names them apart.
            voice_id = lower if codes.count(lower) == 1 else file.rpartition("/")[2].lower()
            if voice_id in (v.voice_id for v in voices):
                continue
            base = Voice(voice_id, name, lower.split("-")[0], lower, gender, file, aliases)
            voices.append(base)
            for variant, (label, variant_gender) in VARIANTS.items():
                if variant in available:
                    voices.append(Voice(f"{voice_id}+{variant}", f"{name}, {label}", base.language, lower,
                                        variant_gender, f"{file}+{variant}", aliases, variant))
        return cls(voices)

    def __len__(self) -> int:
        return len(self._voices)

    def all(self) -> list[Voice]:
        return list(self._voices)

    def get(self, voice_id: str) -> Voice | None:
        return self._by_id.get(voice_id)

    def languages(self) -> list[str]:
        return sorted({v.language for v in self._voices})

    def default_for(self, language: str) -> Voice | None:
        """The language's default voice: the configured one, an exact match, else espeak-ng's preference."""
        chosen = DEFAULT_VOICES.get(language)
        if chosen and chosen in self._by_id:
            return self._by_id[chosen]
        bases = [v for v in self._voices if not v.variant and v.speaks(language)]
        if not bases:
            return None
        primary = language.split("-")[0]

        def rank(voice: Voice) -> tuple[int, int, str]:
            exact = 0 if voice.code == language or voice.voice_id == language else 1
            priorities = [p for tag, p in voice.aliases if tag == language] or [
                p for tag, p in voice.aliases if tag == primary]
            own = 0 if voice.code == primary else 5
            return exact, min(priorities, default=own), voice.voice_id

        return min(bases, key=rank)

    def pick(self, language_text: str, voice_text: str, *, default_language: str = DEFAULT_LANGUAGE,
             language_field: str = "language", voice_field: str = "voice_id"
             ) -> tuple[Voice | None, list[FieldViolation]]:
        """The voice a request asks for, or the field violations that explain why there is none."""
        language = normalize_language(language_text)
        voice_id = voice_text.strip().lower()
        if language and (problem := language_problem(language)):
            return None, [FieldViolation(language_field, problem)]
        if voice_id and voice_id != DEFAULT_VOICE_ALIAS:
            voice = self._by_id.get(voice_id)
            if voice is None:
                example = ", ".join(v for v in ("en-us", "en-us+f3", "fr-fr") if v in self._by_id)
                return None, [FieldViolation(
                    voice_field, f"unknown voice {voice_text.strip()[:60]!r}; ListVoices (GET /api/v1/tts/voices) "
                                 f"lists the {len(self)} voices" + (f", e.g. {example}" if example else ""))]
            if language and not voice.speaks(language):
                return None, [FieldViolation(
                    voice_field, f"voice {voice_id} speaks {voice.language}, not {language}: choose a voice of "
                                 f"{language} or leave {voice_field} empty")]
            return voice, []
        wanted = language or default_language
        voice = self.default_for(wanted)
        if voice is None:
            return None, [FieldViolation(
                language_field, f"no voice speaks {wanted!r}; ListVoices (GET /api/v1/tts/voices) lists "
                                f"the {len(self.languages())} languages")]
        return voice, []
