"""Fine-tuning a text classifier: from a labelled file to a better model that every picker offers.

What the Fine-tune tab (or a notebook) needs, in the order a person meets it:

    preview(path)                     -> DatasetPreview: first rows, guessed columns, label counts
    FinetuneConfig(data_file=..., ...) or preset_config("rotten-tomatoes")
    start_run(config)                 -> RunFolder: validated, then trained in its own process
    run.status / run.read_log()       progress to show; reattach later with list_runs()
    request_stop(run), resume_run(run)
    run.result()                      base vs fine-tuned metrics on the same held-out rows
    export_zip(run)                   -> Path of the model folder as a zip

Modules: config (the settings), data (load, validate, split), batching (tokenise, length-grouped
batches), model (base checkpoint, head, frozen layers), train (the Accelerate loop), evaluation,
metrics/ (local `evaluate` modules), runs (run folders, processes), run_queue (one run at a time),
registry (models folder), card (model card), presets, and __main__ (the command line).
"""

from pipelines.finetune.config import DEFAULT_LEARNING_RATES, MODES, FinetuneConfig
from pipelines.finetune.data import DatasetPreview, preview
from pipelines.finetune.presets import PRESETS, preset_config
from pipelines.finetune.runs import (
                                     RunFolder,
                                     RunStatus,
                                     RunSummary,
                                     export_zip,
                                     list_run_folders,
                                     list_runs,
                                     request_stop,
                                     resume_run,
                                     start_run,
)

__all__ = ["DEFAULT_LEARNING_RATES", "MODES", "PRESETS", "DatasetPreview", "FinetuneConfig", "RunFolder",
           "RunStatus", "RunSummary", "export_zip", "list_run_folders", "list_runs", "preset_config", "preview",
           "request_stop", "resume_run", "start_run"]
