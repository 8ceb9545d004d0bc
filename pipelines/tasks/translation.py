"""Translate text with a translation model (Marian opus-mt, T5, NLLB, M2M100) or an instruct LM.

transformers 5 has no translation pipeline any more; this is ours, on `AutoModelForSeq2SeqLM`. Which
languages a model offers depends on its family:
- Marian opus-mt: the one direction in its name or tokenizer ("opus-mt-en-fr": en to fr); models with
  several targets read a ">>fra<<" token first.
- T5: a text prefix per direction ("translate English to French: "), from the checkpoint's own task
  parameters, else the three directions T5 was trained on.
- NLLB and M2M100: any of their languages to any other; the tokenizer marks the source language and
  generation is forced to start with the target language's token.
- instruct LMs: a list of major languages, asked for with a prompt.
- any other seq2seq model: the single direction it was trained for ("as trained").
The text is split into sentences, translated in batches (sorted by length so each batch pads little),
and put back together with its original spacing and paragraph breaks.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace

import torch

from pipelines.models import catalog, lm, loading, seq2seq
from pipelines.models.catalog import ModelSpec
from pipelines.models.languages import AS_TRAINED, NAMES, T5_PAIRS, LanguageChoices, Route, catalogue_route  # noqa: F401 (re-exported)
from pipelines.models.loading import LoadedModel
from pipelines.text.chunking import decoder_room, fit_pieces, input_window, lm_input_window, token_counter
from pipelines.text.inputs import require_range, require_text
from pipelines.text.sentences import split_sentences

LM_PROMPT = ("Translate the following text from {source} to {target}. Write only the translation.\n\n"
             "{text}")
_OPUS_NAME = re.compile(r"opus-mt-(?:tc-[a-z]+-)?([a-z]{2,3})(?:-([a-z]{2,3})(?![a-z]))?")
_LANG_TOKEN = re.compile(r"^([a-z]{3}_[A-Z][a-z]{3}|[a-z]{2}_[A-Z]{2})$")  # fra_Latn (NLLB), fr_XX (mBART)
# The tokenizer lives in the shared model cache, and setting its source language changes its special
# tokens for every caller: one request at a time may set it and tokenize.
_SOURCE_LANG_LOCK = threading.Lock()


@dataclass(frozen=True)
class TranslationResult:
    translation: str
    sentences: int
    model: str
    source_lang: str
    target_lang: str
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)

    def to_dict(self) -> dict:
        return {"translation": self.translation, "sentences": self.sentences, "model": self.model,
                "source_lang": self.source_lang, "target_lang": self.target_lang, "precision": self.precision}


def language_choices(model: str | ModelSpec | None) -> LanguageChoices:
    """The languages a model can translate from and into, for the pickers (no download for catalogue
    entries: their directions are listed in the catalogue)."""
    reference = (model or "").strip()
    spec = next((s for s in catalog.HUB_MODELS if reference in (s.name, s.hub_id)
                 and "translation" in s.tasks), None) or catalog.resolve("translation", model)
    return route_of(spec).choices()


def translate(text: str, model: str | ModelSpec | None = None, source_lang: str | None = None,
              target_lang: str | None = None, *, num_beams: int = 4, max_new_tokens: int = 256,
              batch_size: int = 16) -> TranslationResult:
    """Translate `text` sentence by sentence, keeping its spacing and paragraph breaks."""
    text = require_text(text, "text to translate")
    require_range(num_beams, "Number of beams", 1, 8)
    require_range(max_new_tokens, "Max new tokens", 1, 1024)
    require_range(batch_size, "Batch size", 1, 64)
    spec = catalog.resolve("translation", model)
    route = route_of(spec)
    source, target = route.checked(source_lang, target_lang, spec.name)
    loaded = loading.load(spec)
    split = split_sentences(text)
    budget = _budget(loaded, route, source, target, max_new_tokens)
    pieces = fit_pieces(split.sentences, budget, token_counter(loaded.tokenizer))  # over-long sentences cut
    flat = [piece for parts in pieces for piece in parts]
    done = iter(translate_batches(loaded, route, flat, source, target, num_beams=num_beams,
                                  max_new_tokens=max_new_tokens, batch_size=batch_size))
    sentences = [" ".join(next(done) for _ in parts) for parts in pieces]
    return TranslationResult(translation=split.join(sentences), sentences=len(split.sentences),
                             model=spec.name, source_lang=source, target_lang=target, precision=loaded.precision)


def translate_batches(loaded: LoadedModel, route: Route, texts: list[str], source: str, target: str, *,
                      num_beams: int, max_new_tokens: int, batch_size: int) -> list[str]:
    """Translations of `texts` in their order, `batch_size` per generate call, similar lengths together."""
    lengths = token_counter(loaded.tokenizer)(texts)
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    out = [""] * len(texts)
    # an LM answers each sentence greedily; a blank line means it has moved on to commentary
    lm_settings = lm.GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0,
                                        repetition_penalty=1.0, stop=("\n\n",))
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        if route.style == "lm":
            prompts = [lm_prompt(texts[i], source, target) for i in batch]
            # A batch runs until its longest answer ends: bound each batch by its longest sentence
            # (a translation is rarely over twice the source's tokens) so one rambling row cannot
            # hold the whole batch to max_new_tokens.
            room = min(max_new_tokens, 2 * max(lengths[i] for i in batch) + 16)
            results = lm.complete_batch(loaded, prompts, replace(lm_settings, max_new_tokens=room))
        else:
            inputs = preprocess(loaded, route, [texts[i] for i in batch], source, target)
            results = seq2seq.decode(loaded, forward(loaded, inputs, num_beams, max_new_tokens))
        for i, result in zip(batch, results):
            out[i] = result
    return out


def preprocess(loaded: LoadedModel, route: Route, texts: list[str], source: str, target: str) -> dict:
    """Token ids padded to the longest text, plus the target-language token multilingual models need."""
    tok = loaded.tokenizer
    prefix = _prefix(loaded, source, target)
    if route.style == "multilingual":
        with _SOURCE_LANG_LOCK:
            tok.src_lang = source
            batch = tok(texts, padding=True, return_tensors="pt")
        forced = tok.get_lang_id(target) if hasattr(tok, "get_lang_id") else tok.convert_tokens_to_ids(target)
    else:
        batch = tok([prefix + t for t in texts], padding=True, return_tensors="pt")
        forced = None
    inputs = {k: v.to(loaded.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    if forced is not None:
        inputs["forced_bos_token_id"] = forced
    return inputs


def forward(loaded: LoadedModel, inputs: dict, num_beams: int, max_new_tokens: int) -> torch.Tensor:
    params = seq2seq.checkpoint_params(loaded.model.config, "translation")
    with torch.inference_mode():
        return loaded.model.generate(**inputs, **params, num_beams=num_beams, do_sample=False,
                                     max_new_tokens=decoder_room(loaded.model.config, max_new_tokens))


def route_of(spec: ModelSpec) -> Route:
    """How `spec` translates; read from the catalogue when it says, else from the model itself."""
    known = catalogue_route(spec)
    if known is not None:
        return known
    loaded = loading.load(spec)
    tok, config = loaded.tokenizer, loaded.model.config
    if hasattr(tok, "_build_translation_inputs"):  # NLLB, M2M100, mBART-50: source and target tokens
        codes = tuple(getattr(tok, "lang_code_to_id", None) or
                      (t for t in tok.convert_ids_to_tokens(tok.all_special_ids) if _LANG_TOKEN.match(t)))
        if codes:  # the languages we can name first, for the pickers
            named_first = sorted(codes, key=lambda c: (c not in NAMES, NAMES.get(c, c)))
            return Route("multilingual", codes=tuple(named_first))
    if config.model_type == "marian":
        return _marian_route(loaded)
    if config.model_type == "t5":
        params = getattr(config, "task_specific_params", None) or {}
        found = (re.fullmatch(r"translation_([a-z]+)_to_([a-z]+)", key) for key in params)
        return Route("pair", pairs=tuple(m.groups() for m in found if m) or T5_PAIRS)
    return Route("pair", pairs=((AS_TRAINED, AS_TRAINED),))


def _marian_route(loaded: LoadedModel) -> Route:
    """The direction from the tokenizer's own languages, else from the opus-mt name; several targets
    when the vocabulary has >>xx<< target tokens."""
    tok, spec = loaded.tokenizer, loaded.spec
    names = " ".join(str(n) for n in (spec.hub_id, spec.name, spec.path and spec.path.name) if n)
    found = _OPUS_NAME.search(names)
    source = getattr(tok, "source_lang", None) or (found and found.group(1)) or AS_TRAINED
    codes = [c[2:-2] for c in getattr(tok, "supported_language_codes", None) or ()]
    targets = codes or [getattr(tok, "target_lang", None) or (found and found.group(2)) or AS_TRAINED]
    return Route("pair", pairs=tuple((source, t) for t in targets))


def _prefix(loaded: LoadedModel, source: str, target: str) -> str:
    return source_prefix(loaded.model.config, loaded.tokenizer, source, target)


def source_prefix(config, tokenizer, source: str, target: str) -> str:
    """What goes before each sentence: T5 names the direction, multi-target Marian the target.
    Fine-tuning a seq2seq model for translation puts the same prefix before its sources."""
    if config.model_type == "t5":
        task_params = getattr(config, "task_specific_params", None) or {}
        params = task_params.get(f"translation_{source}_to_{target}")
        named = f"translate {NAMES.get(source, source)} to {NAMES.get(target, target)}: "
        return (params or {}).get("prefix") or named
    if config.model_type == "marian" and getattr(tokenizer, "supported_language_codes", None):
        return f">>{target}<< "
    return ""


def lm_prompt(text: str, source: str, target: str) -> str:
    """The instruct LM's prompt for translating `text`; fine-tuning trains with the same prompt."""
    return LM_PROMPT.format(source=NAMES.get(source, source), target=NAMES.get(target, target), text=text)


def _budget(loaded: LoadedModel, route: Route, source: str, target: str, max_new_tokens: int) -> int:
    """Tokens of text one input may hold: the window less prompt or prefix, special tokens and slack."""
    tok = loaded.tokenizer
    if route.style == "lm":
        window = lm_input_window(loaded.model.config, max_new_tokens)
        overhead = len(lm.encode_prompt(loaded, lm_prompt("", source, target))["input_ids"][0])
    else:
        window = input_window(tok, loaded.model.config)
        prefix = _prefix(loaded, source, target)
        overhead = tok.num_special_tokens_to_add() + len(tok(prefix, add_special_tokens=False)["input_ids"])
    return window - overhead - 2
