"""Shared fixtures: an isolated STUDIO_HOME per test session, offline Hub, and the tiny models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may wait on a network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # keep test logs readable
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Exact float32 everywhere: on a CPU with fast bf16 "auto" would switch inference to bf16, and the
# comparisons with transformers 4.57 hold to 1e-5. The precision tests set it explicitly.
os.environ.setdefault("STUDIO_PRECISION", "float32")

import pytest  # noqa: E402

from tests.helpers import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory):
    """A STUDIO_HOME of the test session's own, so tests never touch the developer's models or runs."""
    home = tmp_path_factory.mktemp("studio_home")
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    (home / "models").mkdir()
    yield home
    if old is None:
        os.environ.pop("STUDIO_HOME", None)
    else:
        os.environ["STUDIO_HOME"] = old


def _model_fixture(name, builder, **kwargs):
    @pytest.fixture(scope="session")
    def fixture(studio_home):
        folder = studio_home / "models" / name
        if not folder.exists():
            builder(folder, **kwargs)
        return name  # a model reference as a user would type it: the folder name in models/

    return fixture


tiny_qa = _model_fixture("tiny-qa", tiny_models.build_qa)
tiny_qa_abstaining = _model_fixture("tiny-qa-abstaining", tiny_models.build_qa, abstains=True)
tiny_classifier = _model_fixture("tiny-classifier", tiny_models.build_classifier)
tiny_encoder = _model_fixture("tiny-encoder", tiny_models.build_encoder)
tiny_bart = _model_fixture("tiny-bart", tiny_models.build_seq2seq)
tiny_t5 = _model_fixture("tiny-t5", tiny_models.build_seq2seq, model_type="t5")
tiny_lm = _model_fixture("tiny-lm", tiny_models.build_causal_lm)
tiny_lm_plain = _model_fixture("tiny-lm-plain", tiny_models.build_causal_lm, chat=False)  # no chat template
# Three labels, and weights large enough that different texts get clearly different scores.
sharp_classifier = _model_fixture("sharp-classifier", tiny_models.build_classifier, labels=tiny_models.SHARP_LABELS,
                                  initializer_range=0.2)
# named like a copied opus-mt checkpoint: the translation tab reads its languages from the name
tiny_marian = _model_fixture("opus-mt-en-fr-tiny", tiny_models.build_marian)
tiny_nllb = _model_fixture("tiny-nllb", tiny_models.build_nllb)
