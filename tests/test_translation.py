"""Translation on tiny models: sentence splitting and rejoining, batching, the languages each model
family offers, and unsupported directions; and, marked slow, a real sentence from the packaged SmolLM2."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.runtime.settings import REPO_ROOT
from pipelines.tasks import translation
from pipelines.tasks.translation import language_choices, translate
from pipelines.text.sentences import split_sentences
from tests.helpers.models import loaded, record_generate

PARAGRAPHS = ("Call me Ishmael. Some years ago I went to sea!\n\n"
              "The whale is large.  The ship sailed from Nantucket.\nWhat is the answer?")
FAST = dict(num_beams=1, max_new_tokens=6)


@pytest.mark.parametrize("text, sentences", [
    (PARAGRAPHS, ["Call me Ishmael.", "Some years ago I went to sea!", "The whale is large.",
                  "The ship sailed from Nantucket.", "What is the answer?"]),
    ("Dr. Smith met Mr. Jones, e.g. at 3.5 p.m. today. J. R. R. Tolkien wrote it.",
     ["Dr. Smith met Mr. Jones, e.g. at 3.5 p.m. today.", "J. R. R. Tolkien wrote it."]),
    ('"Stop!" she said. (It was late.) Then silence',
     ['"Stop!" she said.', "(It was late.)", "Then silence"]),
    ("日本語です。次の文！", ["日本語です。", "次の文！"]),
    ("  one line only  ", ["one line only"]),
])
def test_split_sentences_finds_sentences_and_gives_the_text_back(text, sentences):
    split = split_sentences(text)
    assert list(split.sentences) == sentences
    assert split.join(split.sentences) == text


def test_join_keeps_paragraph_breaks_and_order():
    split = split_sentences(PARAGRAPHS)
    assert split.join(["1", "2", "3", "4", "5"]) == "1 2\n\n3  4\n5"
    with pytest.raises(ValueError):
        split.join(["1"])


def recorded(monkeypatch, reference):
    """The translation model for `reference`, and the record of its generate calls."""
    model = loaded("translation", reference)
    return model, record_generate(monkeypatch, model)


def test_translation_keeps_paragraphs_and_sentence_order(tiny_marian):
    whole = translate(PARAGRAPHS, tiny_marian, "en", "fr", batch_size=2, **FAST)
    alone = [translate(s, tiny_marian, "en", "fr", **FAST).translation
             for s in split_sentences(PARAGRAPHS).sentences]
    assert whole.translation == split_sentences(PARAGRAPHS).join(alone)
    assert len(set(alone)) > 1  # the model tells these sentences apart, so order is really checked
    assert whole.sentences == 5


def test_sentences_are_batched_sorted_by_length_and_padded_to_the_longest(tiny_marian, monkeypatch):
    _, calls = recorded(monkeypatch, tiny_marian)
    translate(PARAGRAPHS, tiny_marian, batch_size=2, **FAST)
    assert [c["input_ids"].shape[0] for c in calls] == [2, 2, 1]
    widths = [c["input_ids"].shape[1] for c in calls]
    assert widths == sorted(widths)  # shortest sentences first: little padding in each batch
    assert all(c["attention_mask"].sum(dim=1).max() == c["input_ids"].shape[1] for c in calls)


def test_one_sentence_is_translated_by_one_call_of_the_model(tiny_marian, monkeypatch):
    model, calls = recorded(monkeypatch, tiny_marian)
    result = translate("Call me Ishmael.", tiny_marian, **FAST)
    (call,) = calls
    assert call["input_ids"][0].tolist() == model.tokenizer("Call me Ishmael.")["input_ids"]
    written = model.tokenizer.decode(call["output"][0], skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert result.to_dict() == {"translation": written.strip(), "sentences": 1,
                                "model": "opus-mt-en-fr-tiny", "source_lang": "en", "target_lang": "fr",
                                "precision": "float32"}


def test_marian_languages_come_from_the_model_name(tiny_marian):
    choices = language_choices(tiny_marian)
    assert choices.sources == (("English", "en"),) and choices.targets == (("French", "fr"),)
    assert (choices.default_source, choices.default_target) == ("en", "fr")


def test_marian_tokenizer_languages_win_over_the_folder_name(tiny_marian, studio_home):
    source, target = studio_home / "models" / tiny_marian, studio_home / "models" / "my-marian-de-en"
    if not target.exists():
        shutil.copytree(source, target)
        config_file = target / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) | {"source_lang": "de", "target_lang": "en"}
        config_file.write_text(json.dumps(config))
    choices = language_choices("my-marian-de-en")
    assert (choices.default_source, choices.default_target) == ("de", "en")


def test_catalogue_hub_entries_list_languages_offline():
    assert language_choices("opus-mt-en-de").targets == (("German", "de"),)
    t5 = language_choices("google-t5/t5-small")
    assert [code for _, code in t5.targets] == ["fr", "de", "ro"] and t5.default_source == "en"


def test_t5_offers_its_three_directions_and_gets_a_prefix(tiny_t5, monkeypatch):
    choices = language_choices(tiny_t5)
    assert [code for _, code in choices.sources] == ["en"]
    assert [code for _, code in choices.targets] == ["fr", "de", "ro"]
    model, calls = recorded(monkeypatch, tiny_t5)
    translate("The cat sat on the mat.", tiny_t5, "en", "de", **FAST)
    expected = model.tokenizer("translate English to German: The cat sat on the mat.")["input_ids"]
    assert calls[0]["input_ids"][0].tolist() == expected


def test_nllb_marks_source_and_forces_target_token(tiny_nllb, monkeypatch):
    choices = language_choices(tiny_nllb)
    codes = [code for _, code in choices.targets]
    assert len(codes) == 202 and ("French", "fra_Latn") in choices.targets
    assert (choices.default_source, choices.default_target) == ("eng_Latn", "fra_Latn")
    model, calls = recorded(monkeypatch, tiny_nllb)
    result = translate("The cat sat. Call me Ishmael.", tiny_nllb, "en", "French", **FAST)  # ISO code, name
    assert (result.source_lang, result.target_lang) == ("eng_Latn", "fra_Latn")
    tok = model.tokenizer
    assert calls[0]["forced_bos_token_id"] == tok.convert_tokens_to_ids("fra_Latn")
    assert (calls[0]["input_ids"][:, 0] == tok.convert_tokens_to_ids("eng_Latn")).all()


def test_instruct_lm_offers_major_languages_and_is_prompted_per_sentence(tiny_lm, monkeypatch):
    choices = language_choices(tiny_lm)
    assert ("English", "en") in choices.sources and ("Japanese", "ja") in choices.targets
    prompts = []
    original = translation.lm.complete_batch

    def complete_batch(lm, batch, settings):
        prompts.append(batch)
        return original(lm, batch, settings)

    monkeypatch.setattr(translation.lm, "complete_batch", complete_batch)
    result = translate("Call me Ishmael. The whale is large.", tiny_lm, "en", "de", batch_size=8, **FAST)
    assert len(prompts) == 1 and len(prompts[0]) == 2  # both sentences in one call
    assert all(p.startswith("Translate the following text from English to German.") for p in prompts[0])
    assert result.sentences == 2


def test_other_seq2seq_models_translate_as_trained(tiny_bart):
    choices = language_choices(tiny_bart)
    assert choices.sources == (("As trained", "as-trained"),) == choices.targets
    assert translate("The cat sat.", tiny_bart, **FAST).source_lang == "as-trained"


def test_a_sentence_longer_than_the_window_is_cut_not_truncated(tiny_t5, monkeypatch):
    _, calls = recorded(monkeypatch, tiny_t5)
    sentence = " ".join(["the whale is large and the sea is deep"] * 12)  # about 110 tokens, window 64
    result = translate(sentence, tiny_t5, "en", "fr", **FAST)
    assert result.sentences == 1
    assert calls[0]["input_ids"].shape[0] > 1 and calls[0]["input_ids"].shape[1] <= 64


@pytest.mark.parametrize("fixture, source, target, names", [
    ("tiny_marian", "en", "de", "French"),
    ("tiny_t5", "fr", "en", "English"),
    ("tiny_nllb", "en", "Klingon", "French"),
    ("tiny_lm", "en", "Klingon", "Japanese"),
    ("tiny_lm", "en", "en", "same"),
])
def test_unsupported_directions_raise_value_error_naming_the_supported_ones(fixture, source, target,
                                                                             names, request):
    model = request.getfixturevalue(fixture)
    with pytest.raises(ValueError, match=names):
        translate("The cat sat.", model, source, target)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_beams=0), "Number of beams"), (dict(max_new_tokens=0), "Max new tokens"),
    (dict(batch_size=0), "Batch size"),
])
def test_bad_settings_raise_value_error(kwargs, message, tiny_marian):
    with pytest.raises(ValueError, match=message):
        translate("The cat sat.", tiny_marian, **kwargs)


def test_empty_text_raises_value_error(tiny_marian):
    with pytest.raises(ValueError, match="empty"):
        translate("\n\n", tiny_marian)


@pytest.mark.slow
def test_smollm2_translates_a_sentence_to_french():
    result = translate("The cat is sleeping on the sofa.", "SmolLM2-135M-Instruct (packaged)", "en", "fr",
                       max_new_tokens=40)
    assert result.translation.strip()
    assert (result.source_lang, result.target_lang) == ("en", "fr")


def test_examples_name_directions_an_instruct_lm_offers(tiny_lm):
    examples = json.loads((REPO_ROOT / "examples" / "translation.json").read_text())
    codes = {code for _, code in language_choices(tiny_lm).sources}
    assert examples and all(set(e) == {"text", "source_lang", "target_lang"} for e in examples)
    assert all(e["text"].strip() and {e["source_lang"], e["target_lang"]} <= codes for e in examples)


def test_max_new_tokens_beyond_the_decoder_positions_is_capped_not_a_crash(tiny_bart, monkeypatch):
    # tiny-bart's position table has 128 rows; 256 new tokens used to index past it
    _, calls = recorded(monkeypatch, tiny_bart)
    asked = [translate("The cat sat on the mat.", model=tiny_bart, source_lang="as-trained",
                       target_lang="as-trained", max_new_tokens=n, num_beams=1).translation for n in (256, 126)]
    assert [call["max_new_tokens"] for call in calls] == [126, 126]  # 128 positions less the 2 BART offsets them by
    assert asked[0] == asked[1]  # the same translation as asking for the most it can write
