"""Which languages a translation model offers, and the codes and names the pickers show.

Kept apart from `pipelines.tasks.translation` because it needs neither torch nor transformers: the app
fills its language pickers from the catalogue at start-up without importing either, and a model is
only loaded (by `translation.route_of`) when its languages cannot be read from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.models import kinds
from pipelines.models.catalog import ModelSpec

AS_TRAINED = "as-trained"
# (ISO 639-1 code, English name, NLLB-200 code): display names, and "fr" accepted for "fra_Latn".
LANGUAGES = (
    ("en", "English", "eng_Latn"), ("fr", "French", "fra_Latn"), ("de", "German", "deu_Latn"),
    ("es", "Spanish", "spa_Latn"), ("it", "Italian", "ita_Latn"), ("pt", "Portuguese", "por_Latn"),
    ("nl", "Dutch", "nld_Latn"), ("ro", "Romanian", "ron_Latn"), ("ru", "Russian", "rus_Cyrl"),
    ("uk", "Ukrainian", "ukr_Cyrl"), ("pl", "Polish", "pol_Latn"), ("cs", "Czech", "ces_Latn"),
    ("sv", "Swedish", "swe_Latn"), ("da", "Danish", "dan_Latn"), ("fi", "Finnish", "fin_Latn"),
    ("no", "Norwegian", "nob_Latn"), ("el", "Greek", "ell_Grek"), ("tr", "Turkish", "tur_Latn"),
    ("hu", "Hungarian", "hun_Latn"), ("ca", "Catalan", "cat_Latn"), ("ar", "Arabic", "arb_Arab"),
    ("he", "Hebrew", "heb_Hebr"), ("fa", "Persian", "pes_Arab"), ("hi", "Hindi", "hin_Deva"),
    ("bn", "Bengali", "ben_Beng"), ("zh", "Chinese", "zho_Hans"), ("ja", "Japanese", "jpn_Jpan"),
    ("ko", "Korean", "kor_Hang"), ("vi", "Vietnamese", "vie_Latn"), ("th", "Thai", "tha_Thai"),
    ("id", "Indonesian", "ind_Latn"), ("sw", "Swahili", "swh_Latn"),
)
NAMES = {code: name for iso, name, nllb in LANGUAGES for code in (iso, nllb)} | {AS_TRAINED: "As trained"}
ISO_OF = {nllb: iso for iso, _, nllb in LANGUAGES}
LM_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar", "hi")
T5_PAIRS = (("en", "fr"), ("en", "de"), ("en", "ro"))


@dataclass(frozen=True)
class LanguageChoices:
    sources: tuple[tuple[str, str], ...]  # (display name, code), e.g. ("English", "en")
    targets: tuple[tuple[str, str], ...]
    default_source: str
    default_target: str


@dataclass(frozen=True)
class Route:
    """How a model translates: `pairs` for models trained on fixed directions, `codes` for models that
    go from any of their languages to any other (multilingual seq2seq, instruct LMs)."""

    style: str  # "pair" | "multilingual" | "lm"
    pairs: tuple[tuple[str, str], ...] = ()
    codes: tuple[str, ...] = ()

    def choices(self) -> LanguageChoices:
        if self.style == "pair":
            sources = tuple(dict.fromkeys(s for s, _ in self.pairs))
            targets = tuple(dict.fromkeys(t for _, t in self.pairs))
            return LanguageChoices(named(sources), named(targets), *self.pairs[0])
        source = next((c for c in ("en", "eng_Latn") if c in self.codes), self.codes[0])
        target = next((c for c in ("fr", "fra_Latn", *self.codes) if c in self.codes and c != source), source)
        return LanguageChoices(named(self.codes), named(self.codes), source, target)

    def checked(self, source: str | None, target: str | None, model: str) -> tuple[str, str]:
        """The (source, target) codes a user asked for, or a ValueError naming what the model offers."""
        choices = self.choices()
        source = code_for(source or choices.default_source, choices.sources, "from", model)
        target = code_for(target or choices.default_target, choices.targets, "into", model)
        if self.style == "pair" and (source, target) not in self.pairs:
            offered = ", ".join(f"{NAMES.get(s, s)} to {NAMES.get(t, t)}" for s, t in self.pairs)
            raise ValueError(f"'{model}' does not translate {NAMES.get(source, source)} to "
                             f"{NAMES.get(target, target)}; it translates {offered}.")
        if source == target and source != AS_TRAINED:
            raise ValueError("The source and target languages are the same: pick another target.")
        return source, target


def catalogue_route(spec: ModelSpec) -> Route | None:
    """How `spec` translates when that is known without loading it (instruct LMs, catalogue pairs)."""
    if spec.kind == kinds.CAUSAL_LM:
        return Route("lm", codes=LM_LANGUAGES)
    if spec.language_pairs:
        return Route("pair", pairs=spec.language_pairs)
    return None


def named(codes) -> tuple[tuple[str, str], ...]:
    return tuple((NAMES.get(code, code), code) for code in codes)


def code_for(asked: str, offered: tuple[tuple[str, str], ...], direction: str, model: str) -> str:
    """A language code from what a user gave: the model's code, its display name, or the ISO code."""
    wanted = asked.strip().lower()
    for name, code in offered:
        if wanted in (code.lower(), name.lower(), ISO_OF.get(code, "")):
            return code
    listed = ", ".join(name if name == code else f"{name} ({code})" for name, code in offered[:30])
    more = f" and {len(offered) - 30} more" if len(offered) > 30 else ""
    raise ValueError(f"'{model}' cannot translate {direction} '{asked}'. It translates {direction}: "
                     f"{listed}{more}.")
