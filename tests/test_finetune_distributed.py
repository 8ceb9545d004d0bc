"""The data-parallel path: a run given an Accelerate config of two CPU processes (gloo) trains to the
end through `accelerate launch`, exactly as a multi-GPU config would send it, and scores like a
one-process run.

Two processes share the batches, so each optimizer step sees twice the rows and the run takes half
the steps: the runs differ step for step, and both must learn the task. Tolerance: held-out accuracy
within 0.1 of the one-process run (both reach at least 0.9 on this keyword task)."""

from __future__ import annotations

import pytest

from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.launch import start_run
from tests.helpers import tiny_models
from tests.helpers.finetune import wait_until

pytestmark = pytest.mark.training

# Accelerate launches MULTI_CPU through MPI only; its torchrun launcher (the multi-GPU one) with
# use_cpu starts plain processes, which join one gloo group on a machine without a GPU.
TWO_CPU_PROCESSES = """compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_processes: 2
num_machines: 1
machine_rank: 0
main_process_ip: 127.0.0.1
main_process_port: {port}
mixed_precision: 'no'
use_cpu: true
"""


def test_two_processes_train_a_run_that_scores_like_one(tmp_path):
    from tests.helpers.app import free_port

    with tiny_models.finetune_home(tmp_path / "home"):
        data = tiny_models.write_keywords_csv(tmp_path / "keywords.csv", n=80)
        accelerate_config = tmp_path / "two_cpu_processes.yaml"
        accelerate_config.write_text(TWO_CPU_PROCESSES.format(port=free_port()))
        config = FinetuneConfig(data_file=str(data), base_model="tiny-encoder", batch_size=8, learning_rate=3e-3,
                                max_length=32, epochs=30, logging_steps=5, mixed_precision="no")
        runs = {"one": start_run(config.with_changes(name="tiny-one-process")),
                "two": start_run(config.with_changes(name="tiny-two-processes",
                                                     accelerate_config=str(accelerate_config)))}
        for run in runs.values():
            wait_until(lambda: run.status.state not in ("queued", "running"), timeout_s=600, what=f"run {run.id}")
            assert run.status.state == "finished", run.log_tail(40)
        one, two = (runs[k].result() for k in ("one", "two"))
        assert (one["processes"], two["processes"]) == (1, 2)
        assert two["steps"] == pytest.approx(one["steps"] / 2, abs=one["epochs"])  # each step: both halves
        assert two["held_out_rows"] == one["held_out_rows"] == 16  # every held-out row scored once
        assert sum(map(sum, two["details"]["fine_tuned"]["confusion_matrix"])) == 16
        assert min(one["fine_tuned"]["accuracy"], two["fine_tuned"]["accuracy"]) >= 0.9
        assert abs(one["fine_tuned"]["accuracy"] - two["fine_tuned"]["accuracy"]) <= 0.1
