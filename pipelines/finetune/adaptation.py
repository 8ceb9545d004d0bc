"""Domain adaptation, then fine-tuning, compared with fine-tuning alone: the BERT recipe as three runs.

From one classification config, `adaptation_configs` plans a chain (runs.create_runs links it):
1. "baseline": the base checkpoint fine-tuned as asked;
2. "adapt": the base's masked-LM training continued on the training rows' texts (labels unused;
   the held-out rows are never read, so adaptation cannot have seen the texts it is scored on);
3. "adapted": the adapted encoder fine-tuned exactly as the baseline was.
They train one after another in the queue. `comparison` reads the three results side by side: the
base's untrained head, the base fine-tuned, and adapted-then-fine-tuned, on the same held-out rows.
"""

from __future__ import annotations

import csv
import secrets
import time
from pathlib import Path

from pipelines.finetune import tasks
from pipelines.finetune.config import FinetuneConfig
from pipelines.runtime import settings

ROLES = ("baseline", "adapt", "adapted")
ADAPT_EPOCHS = 3  # masked-LM passes over the training texts
ADAPT_LEARNING_RATE = 5e-5  # continued pretraining takes the fine-tuning step of the full model


def adaptation_configs(config: FinetuneConfig, epochs: int = ADAPT_EPOCHS) -> list[FinetuneConfig]:
    """The chain's three configs, in the order they train."""
    if config.task != "classification":
        raise ValueError("Domain adaptation is planned for text classification: adapt on the texts, then "
                         "fine-tune on their labels. Pick the classification task.")
    if config.base_from_run is not None:
        raise ValueError("This run already starts from another run's model; adapt from a base checkpoint.")
    chain = time.strftime("adapt-%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    texts = training_texts(config)
    data_file = settings.cache_dir() / "adaptation" / f"{chain}.csv"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    with data_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text in texts)
    adapt = FinetuneConfig(
        data_file=str(data_file), task="masked-lm", columns={"text": "text"}, base_model=config.base_model,
        epochs=epochs, batch_size=config.batch_size, max_length=config.max_length,
        learning_rate=ADAPT_LEARNING_RATE, mixed_precision=config.mixed_precision, seed=config.seed,
        logging_steps=config.logging_steps, dataset_name=f"{config.effective_dataset_name}-texts",
        chain=chain, chain_role="adapt", accelerate_config=config.accelerate_config)
    return [config.with_changes(chain=chain, chain_role="baseline"), adapt,
            config.with_changes(chain=chain, chain_role="adapted", base_from_run="adapt",
                                name=f"{config.name}-adapted" if config.name else None)]


def training_texts(config: FinetuneConfig) -> list[str]:
    """The texts of the rows the classification run trains on (its own split, same seed)."""
    from pipelines.finetune.data import load_rows
    from pipelines.finetune.model import resolve_base
    from pipelines.finetune.tasks.classification import head_labels, split

    rows, _ = load_rows(Path(config.data_file), tasks.get("classification"), config.columns)
    label_names, _ = head_labels(resolve_base(config.base_model).config, sorted(set(rows["label"])))
    train, _ = split(rows, label_names, config)
    return list(train["text"])


def comparison(chain: list[dict]) -> list[list]:
    """Rows for the three-way table from status.chain(run): metric, untrained head, fine-tuned from the
    base, adapted then fine-tuned; None where a run has not finished."""
    by_role = {member["role"]: member for member in chain}
    baseline, adapted = by_role.get("baseline", {}), by_role.get("adapted", {})
    metric = baseline.get("metric") or adapted.get("metric")
    return [[metric, baseline.get("base"), baseline.get("fine_tuned"), adapted.get("fine_tuned")]]


def verdict(chain: list[dict]) -> str:
    """One sentence on whether adaptation helped, from the finished runs; "" until both have."""
    by_role = {member["role"]: member for member in chain}
    base, adapted = by_role.get("baseline", {}).get("fine_tuned"), by_role.get("adapted", {}).get("fine_tuned")
    if base is None or adapted is None:
        return ""
    metric, difference = by_role["baseline"]["metric"], adapted - base
    adapt = by_role.get("adapt", {})
    perplexity = (f" Adaptation took held-out perplexity from {adapt['base']:.1f} to {adapt['fine_tuned']:.1f}."
                  if adapt.get("base") is not None and adapt.get("fine_tuned") is not None else "")
    if abs(difference) < 0.005:
        outcome = f"Adaptation made no difference that one run can show ({metric} {adapted:.3f} vs {base:.3f})."
    elif difference > 0:
        outcome = f"Adaptation helped: {metric} {adapted:.3f} against {base:.3f} without it (+{difference:.3f})."
    else:
        outcome = f"Adaptation did not help: {metric} {adapted:.3f} against {base:.3f} without it ({difference:.3f})."
    return (outcome + perplexity + " One seed each: a difference of a point or two is within what another "
            "seed can move.")
