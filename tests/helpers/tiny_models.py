"""Tiny models that the tests build themselves: real transformers classes, random weights, a
WordPiece tokenizer trained on a few sentences. Each builder writes a standard `save_pretrained`
folder, so the code under test loads it exactly as it would load a Hub checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

CORPUS = [
    "Miguel de Cervantes was a Spanish writer born in 1547 in Alcala de Henares.",
    "He wrote Don Quixote, which many call the first modern novel.",
    "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
    "The whale is large and the sea is deep. The ship sailed from Nantucket.",
    "This movie was wonderful, moving and funny. That film was dull and boring.",
    "The cat sat on the mat. Le chat est sur la table. Der Hund schläft.",
    "What is the answer? Who wrote the book? When was he born? Where did he live?",
]

# A classifier's labels named in its config, not NEGATIVE/POSITIVE: the names must come from there.
SHARP_LABELS = ("sad", "meh", "glad")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def wordpiece_tokenizer(model_max_length: int = 512, chat: bool = False) -> PreTrainedTokenizerFast:
    """A BERT-style fast tokenizer (offsets, [CLS]/[SEP] pairs) trained on CORPUS."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (["<|im_start|>", "<|im_end|>"] if chat else [])
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    # A fixed vocabulary rather than a trained one: the WordPiece trainer breaks ties in a different
    # order in each process, so trained vocabularies (and the models built on them) varied run to run.
    words = sorted({word for line in CORPUS
                    for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))})
    chars = sorted({char for word in words for char in word})
    tokens = dict.fromkeys([*specials, *chars, *("##" + char for char in chars), *words])
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(tokens)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=model_max_length)
    if chat:
        fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        fast.eos_token = "<|im_end|>"
        fast.chat_template = CHAT_TEMPLATE
    return fast


def _bert_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=512, **extra)


def build_qa(folder: Path, seed: int = 0, model_max_length: int = 512, abstains: bool = False) -> Path:
    """abstains=True: a model that puts start and end on [CLS] (the null answer) in every window, as
    one trained on unanswerable questions does for a question its context does not answer. Its [CLS]
    embedding stands out along one hidden dimension, and only that dimension feeds the span logits."""
    from transformers import BertForQuestionAnswering

    torch.manual_seed(seed)
    tok = wordpiece_tokenizer(model_max_length)
    model = BertForQuestionAnswering(_bert_config(len(tok)))
    if abstains:
        with torch.no_grad():
            cls = model.bert.embeddings.word_embeddings.weight[tok.cls_token_id]
            cls.zero_()
            cls[0] = 10.0
            model.qa_outputs.weight.zero_()
            model.qa_outputs.bias.zero_()
            model.qa_outputs.weight[:, 0] = 5.0
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_classifier(folder: Path, labels=("NEGATIVE", "POSITIVE"), seed: int = 0,
                     initializer_range: float = 0.02) -> Path:
    """initializer_range=0.2 gives a "sharp" classifier: at the usual 0.02 every text scores within
    about 1e-4 of every other, too close for a test to tell texts (or a mix-up of them) apart."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    tok = wordpiece_tokenizer()
    config = _bert_config(len(tok), num_labels=len(labels), id2label=dict(enumerate(labels)),
                          label2id={label: i for i, label in enumerate(labels)},
                          initializer_range=initializer_range)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_encoder(folder: Path, seed: int = 0) -> Path:
    """A bare BERT encoder, the shape of a sentence-transformers backbone."""
    from transformers import BertModel

    torch.manual_seed(seed)
    tok = wordpiece_tokenizer()
    BertModel(_bert_config(len(tok))).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_seq2seq(folder: Path, seed: int = 0, model_type: str = "bart", model_max_length: int = 64) -> Path:
    """A tiny encoder-decoder: BART by default, T5 with model_type='t5'."""
    from transformers import BartConfig, BartForConditionalGeneration, T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    tok = wordpiece_tokenizer(model_max_length)
    pad, eos, bos = tok.pad_token_id, tok.sep_token_id, tok.cls_token_id
    if model_type == "t5":
        config = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
                          pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad)
        model = T5ForConditionalGeneration(config)
    else:
        config = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=pad,
                            bos_token_id=bos, eos_token_id=eos, decoder_start_token_id=eos,
                            forced_eos_token_id=eos)
        model = BartForConditionalGeneration(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_causal_lm(folder: Path, seed: int = 0, chat: bool = True) -> Path:
    """A tiny Llama with a ChatML-style chat template (an 'instruct' model) unless chat=False."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = wordpiece_tokenizer(chat=chat)
    tok.eos_token = tok.eos_token or "[SEP]"
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.cls_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_marian(folder: Path, seed: int = 0) -> Path:
    """A tiny Marian translation model with a real MarianTokenizer: a sentencepiece model trained on
    CORPUS (one for both sides, as opus-mt models with a shared vocabulary have) and its vocab.json.
    The languages come from the folder name, as for a copied opus-mt-xx-yy checkpoint."""
    import io
    import json

    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS * 3), model_writer=model_bytes,
                                   vocab_size=150, hard_vocab_limit=False, model_type="unigram",
                                   minloglevel=2)
    for side in ("source.spm", "target.spm"):
        (folder / side).write_bytes(model_bytes.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model_bytes.getvalue())
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    ordered = ["</s>", "<unk>"] + [p for p in pieces if p not in ("<s>", "</s>", "<unk>")] + ["<pad>"]
    (folder / "vocab.json").write_text(json.dumps({piece: i for i, piece in enumerate(ordered)}))
    tok = MarianTokenizer(*(str(folder / name) for name in ("source.spm", "target.spm", "vocab.json")))
    pad, eos = tok.pad_token_id, tok.eos_token_id
    config = MarianConfig(vocab_size=len(ordered), d_model=32, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=pad, eos_token_id=eos,
                          decoder_start_token_id=pad, forced_eos_token_id=eos,
                          # 10x the usual: at 0.02 a random model writes the same tokens whatever
                          # it reads, and a test could not tell one sentence's output from another's
                          init_std=0.2)
    MarianMTModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_nllb(folder: Path, seed: int = 0) -> Path:
    """A tiny NLLB-style model: an NllbTokenizer (BPE trained on CORPUS, plus the 202 language tokens)
    on a tiny M2M100 encoder-decoder, the architecture NLLB checkpoints use."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    torch.manual_seed(seed)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    bpe.train_from_iterator(CORPUS * 3, trainers.BpeTrainer(vocab_size=300,
                                                            special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    trained = json.loads(bpe.to_str())["model"]
    tok = NllbTokenizer(vocab=trained["vocab"], merges=[tuple(m) for m in trained["merges"]])
    config = M2M100Config(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          decoder_start_token_id=tok.eos_token_id)
    M2M100ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# --- data and homes for fine-tuning tests -----------------------------------------------------------

POSITIVE, NEGATIVE = ("wonderful", "moving", "funny"), ("dull", "boring")  # words the tiny tokenizer knows


def write_keywords_csv(path: Path, n: int = 60, header=("text", "label")) -> Path:
    """A learnable task for a random tiny BERT: the label follows one keyword. A three-column header
    gets a row id first (a column the tab must not take for the text)."""
    rng = random.Random(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(n):
            positive = i % 2 == 0
            row = [f"the film was {rng.choice(POSITIVE if positive else NEGATIVE)} and the cat sat",
                   "positive" if positive else "negative"]
            writer.writerow([i, *row] if len(header) == 3 else row)
    return path


ANIMALS = ["cat", "whale", "dog", "ship", "film", "book", "sea", "novel"]
PLACES = ["mat", "table", "spain", "nantucket", "sea", "town"]


def qa_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """A learnable QA set for a random tiny BERT: the answer is the word after "on the"."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        animal, place = rng.choice(ANIMALS), rng.choice(PLACES)
        filler = " ".join(rng.choice(["the sea is deep .", "he wrote it .", "it was dull ."]) for _ in range(i % 3))
        context = f"{filler} the {animal} sat on the {place} . the whale is large .".strip()
        rows.append({"context": context, "question": f"where did the {animal} sit ?", "answer": place})
    return rows


def write_pairs(path: Path, words: list[str], n: int = 80, seed: int = 0, transform=lambda words: words) -> Path:
    """source,target rows of 3-6 random `words`; the target is `transform(source words)`."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "target"])
        for _ in range(n):
            source = [rng.choice(words) for _ in range(rng.randint(3, 6))]
            writer.writerow([" ".join(source), " ".join(transform(source))])
    return path


def write_summary_pairs(path: Path, n: int = 96, seed: int = 0) -> Path:
    """source,target rows a random tiny LM learns in seconds: the target is the source's first word and
    then always "is deep"."""
    return write_pairs(path, ANIMALS + PLACES, n, seed, transform=lambda source: [source[0], "is", "deep"])


def write_qa_jsonl(path: Path, n: int = 60) -> Path:
    import json

    path.write_text("\n".join(json.dumps(row) for row in qa_rows(n)) + "\n")
    return path


@contextlib.contextmanager
def finetune_home(home: Path):
    """`home` as STUDIO_HOME with a tiny encoder in its models folder, offline, one thread per process
    (launched trainers inherit the environment; on a small shared machine two threads spin against
    each other). The environment is restored afterwards."""
    saved = {key: os.environ.get(key) for key in ("STUDIO_HOME", "OMP_NUM_THREADS", "HF_HUB_OFFLINE")}
    os.environ.update(STUDIO_HOME=str(home), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    try:
        build_encoder(home / "models" / "tiny-encoder")
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
