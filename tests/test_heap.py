"""pipelines.heap: freed memory is used again instead of being faulted in afresh (glibc only).

Each check runs in a new process: the setting belongs to the whole process, and the test process
must keep glibc's defaults.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from pipelines import heap, settings

GLIBC = platform.libc_ver()[0] == "glibc"

# A training step's pattern: activations of 32 MiB made, used and freed, step after step. Prints whether
# the settings took and the page faults of each step after two first ones.
_STEPS = """
import resource, sys, torch
from pipelines import heap
kept = heap.keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.GELU(), torch.nn.Linear(2048, 512))
x = torch.randn(4096, 512)
def step():
    mlp(x).square().mean().backward()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
before = faults()
for _ in range(5):
    step()
print(kept, (faults() - before) // 5)
"""


def _faults_per_step(mode: str, **env: str) -> tuple[bool, int]:
    done = subprocess.run([sys.executable, "-c", _STEPS, mode], capture_output=True, text=True, timeout=120,
                          cwd=settings.REPO_ROOT, env={**os.environ, "PYTHONPATH": str(settings.REPO_ROOT), **env})
    assert done.returncode == 0, done.stderr
    kept, faults = done.stdout.split()
    return kept == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="the setting exists in glibc's malloc only")
def test_freed_memory_is_used_again_instead_of_faulted_in_afresh():
    kept, kept_faults = _faults_per_step("keep")
    default, default_faults = _faults_per_step("default")
    assert kept and not default
    # glibc's defaults: about 34,000 faults a step here (each activation's pages mapped anew); kept: ~1,600
    assert kept_faults * 5 < default_faults, (kept_faults, default_faults)


@pytest.mark.skipif(not GLIBC, reason="the setting exists in glibc's malloc only")
def test_switched_off_by_its_environment_variable():
    kept, _ = _faults_per_step("keep", STUDIO_KEEP_FREED_MEMORY="0")
    assert not kept


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.delenv("STUDIO_KEEP_FREED_MEMORY", raising=False)
    assert heap._apply() is False
