"""LoRA through peft: small low-rank matrices train beside the frozen weights, then merge into them.

A run with `lora` on wraps its model before training (`wrap`) and merges the adapters into the weights
before it saves (`merged`), so the saved model is a plain `save_pretrained` folder every tab loads
without peft. On SmolLM2-135M, rank 16 on every linear layer of the blocks trains 4.9 M of 139 M
parameters; the optimizer's state shrinks with them, and so does the memory of a step.
"""

from __future__ import annotations

from pipelines.finetune.config import LORA_ALL_LINEAR, FinetuneConfig


def wrap(model, config: FinetuneConfig, task_type: str):
    """The model with LoRA adapters on `config.lora_target_modules`; only they (and nothing else) train.

    `task_type` is peft's: "CAUSAL_LM" or "SEQ_2_SEQ_LM".
    """
    from peft import LoraConfig, get_peft_model

    targets = config.lora_target_modules.strip()
    modules = LORA_ALL_LINEAR if targets == LORA_ALL_LINEAR else [t.strip() for t in targets.split(",") if t.strip()]
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=modules, task_type=task_type)
    try:
        return get_peft_model(model, lora)
    except ValueError as err:  # a target module the model does not have
        names = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                        if type(module).__name__ == "Linear"})
        raise ValueError(f"LoRA could not be applied ({str(err).splitlines()[0]}). This model's linear layers "
                         f"are named: {', '.join(names)}; or use '{LORA_ALL_LINEAR}'.") from err


def is_wrapped(model) -> bool:
    return hasattr(model, "merge_and_unload") and hasattr(model, "peft_config")


def merged(model):
    """The model with its LoRA adapters folded into the weights (W + B A * alpha / r); itself if it has none."""
    return model.merge_and_unload() if is_wrapped(model) else model
