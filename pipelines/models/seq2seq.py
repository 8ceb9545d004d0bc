"""What summarization and translation share when an encoder-decoder model writes the output."""

from __future__ import annotations

import torch

from pipelines.models.loading import LoadedModel

# Decoding knobs a checkpoint may keep in config.task_specific_params (t5-small: length penalty 2 and
# no repeated trigrams for summaries, early stopping for translations); lengths and beams are ours.
CHECKPOINT_KNOBS = ("early_stopping", "length_penalty", "no_repeat_ngram_size")


def checkpoint_params(config, task: str) -> dict:
    """The checkpoint's own decoding knobs for `task` ("summarization", "translation"), as 4.57's
    pipelines applied them: every task_specific_params entry whose key starts with the task's name."""
    params = getattr(config, "task_specific_params", None) or {}
    merged = {k: v for key, p in params.items() if key.startswith(task) for k, v in p.items()}
    return {k: merged[k] for k in CHECKPOINT_KNOBS if k in merged}


def decode(loaded: LoadedModel, output_ids: torch.Tensor) -> list[str]:
    """Generated ids as stripped texts. clean_up_tokenization_spaces=False is what 4.57's pipelines
    did, so outputs compare one to one."""
    texts = loaded.tokenizer.batch_decode(output_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return [t.strip() for t in texts]
