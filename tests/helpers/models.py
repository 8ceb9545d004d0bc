"""The tests' models as the pipelines load them, and a record of what a model's generate() is asked."""

from __future__ import annotations

from pipelines.models import catalog, loading


def loaded(task: str, reference: str, precision: str | None = None) -> loading.LoadedModel:
    """The model a task's pipeline runs for `reference`: the very object in the shared model cache."""
    return loading.load(catalog.resolve(task, reference), precision=precision)


def record_generate(monkeypatch, model: loading.LoadedModel) -> list[dict]:
    """Wrap the model's generate so a test sees every call (and it still generates): each call's
    keyword arguments, and under "output" the token ids generate returned."""
    calls: list[dict] = []
    original = model.model.generate

    def generate(**kwargs):
        output = original(**kwargs)
        calls.append({**kwargs, "output": output})
        return output

    monkeypatch.setattr(model.model, "generate", generate)
    return calls
