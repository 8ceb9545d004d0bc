"""The Fine-tune tab's settings for generative runs (seq2seq, causal LM): what the model is for, the
prompt, the languages, how long targets and generated outputs may be, and LoRA.

They reach /start_finetune as its `more` input, a JSON object of FinetuneConfig settings, so the API
takes any further setting by name without a long list of positional inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines.finetune.config import LORA_ALL_LINEAR, FinetuneConfig
from pipelines.models.languages import LM_LANGUAGES, named

GENERATIVE_TASKS = ("seq2seq", "causal-lm")
DEFAULTS = FinetuneConfig(data_file="")
PURPOSE_CHOICES = [("Summarization (ROUGE-L)", "summarization"), ("Translation (chrF, BLEU)", "translation"),
                   ("Text generation (perplexity)", "generation")]


# the settings `collect` reads and `preset_settings` fills, in that order
SETTING_NAMES = ("purpose", "source_lang", "target_lang", "prompt", "max_target_length", "max_new_tokens", "lora",
                 "lora_r", "lora_alpha", "lora_dropout", "lora_targets")


@dataclass(frozen=True)
class GenerationForm:
    box: gr.Accordion
    purpose: gr.Radio
    source_lang: gr.Dropdown
    target_lang: gr.Dropdown
    prompt: gr.Textbox
    max_target_length: gr.Number
    max_new_tokens: gr.Number
    lora: gr.Checkbox
    lora_r: gr.Number
    lora_alpha: gr.Number
    lora_dropout: gr.Number
    lora_targets: gr.Textbox

    def settings(self) -> list:
        """The components `collect` reads, in its order."""
        return [getattr(self, name) for name in SETTING_NAMES]


def build() -> GenerationForm:
    languages = list(named(LM_LANGUAGES))
    with gr.Accordion("Generation and LoRA (seq2seq, causal LM)", open=True, visible=False,
                      elem_id="finetune-generation") as box:
        with gr.Row():
            purpose = gr.Radio(PURPOSE_CHOICES, value="summarization", label="What the model is for",
                               info="Decides the metric, the prompt and the tab that offers the model.",
                               elem_id="finetune-purpose", scale=3)
            source_lang = gr.Dropdown(languages, value=DEFAULTS.source_lang, label="From", visible=False, scale=1)
            target_lang = gr.Dropdown(languages, value=DEFAULTS.target_lang, label="To", visible=False, scale=1)
        prompt = gr.Textbox(label="Prompt (causal LM pairs; optional)", elem_id="finetune-prompt",
                            placeholder="empty: the prompt the Summarization or Translation tab uses, so the tuned "
                                        "model is asked there as it was trained. Put {source} where the text goes.")
        with gr.Row():
            max_target_length = gr.Number(DEFAULTS.max_target_length, label="Max target length (tokens)",
                                          precision=0, minimum=1)
            max_new_tokens = gr.Number(DEFAULTS.max_new_tokens, label="Max new tokens (held-out outputs)",
                                       precision=0, minimum=1, elem_id="finetune-max-new-tokens")
        with gr.Row():
            lora = gr.Checkbox(DEFAULTS.lora, label="LoRA: train small adapters, merged into the weights at the end",
                               elem_id="finetune-lora", scale=2)
            lora_r = gr.Number(DEFAULTS.lora_r, label="Rank r", precision=0, minimum=1)
            lora_alpha = gr.Number(DEFAULTS.lora_alpha, label="Alpha", precision=0, minimum=1)
            lora_dropout = gr.Number(DEFAULTS.lora_dropout, label="Dropout", minimum=0)
            lora_targets = gr.Textbox(DEFAULTS.lora_target_modules, label="Target modules",
                                      info=f"'{LORA_ALL_LINEAR}' or names such as q_proj,v_proj")
    purpose.change(show_languages, purpose, [source_lang, target_lang], api_visibility="private")
    return GenerationForm(box, purpose, source_lang, target_lang, prompt, max_target_length, max_new_tokens, lora,
                          lora_r, lora_alpha, lora_dropout, lora_targets)


def show_languages(purpose: str) -> tuple[dict, dict]:
    return gr.update(visible=purpose == "translation"), gr.update(visible=purpose == "translation")


def show_for_task(task: str) -> dict:
    """The accordion is for seq2seq and causal-LM runs only."""
    return gr.update(visible=task in GENERATIVE_TASKS)


def collect(task: str, purpose: str, source_lang: str, target_lang: str, prompt: str, max_target_length: float,
            max_new_tokens: float, lora: bool, lora_r: float, lora_alpha: float, lora_dropout: float,
            lora_targets: str) -> dict:
    """The form as /start_finetune's `more` settings; empty for the encoder tasks."""
    if task not in GENERATIVE_TASKS:
        return {}
    more = {"purpose": purpose, "max_target_length": int(max_target_length), "max_new_tokens": int(max_new_tokens),
            "lora": bool(lora), "lora_r": int(lora_r), "lora_alpha": int(lora_alpha),
            "lora_dropout": float(lora_dropout), "lora_target_modules": (lora_targets or LORA_ALL_LINEAR).strip()}
    if purpose == "translation":
        more.update(source_lang=source_lang, target_lang=target_lang)
    if (prompt or "").strip():
        more["prompt"] = prompt.strip()
    return more


def preset_settings(config: FinetuneConfig) -> tuple:
    """What a built-in example sets in this form, in `settings()` order."""
    return (config.purpose or gr.skip(), config.source_lang, config.target_lang, config.prompt or "",
            config.max_target_length, config.max_new_tokens, config.lora, config.lora_r, config.lora_alpha,
            config.lora_dropout, config.lora_target_modules)
