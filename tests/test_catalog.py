"""Resolving a model reference: a models-folder name takes a short path and finds what the list finds."""

from __future__ import annotations

import shutil

from pipelines.models import catalog


def test_a_folder_name_resolves_to_the_same_spec_as_the_list(tiny_classifier):
    listed = next(s for s in catalog.entries("sentiment") if s.name == tiny_classifier)
    assert catalog.resolve("sentiment", tiny_classifier) == listed


def test_a_folder_named_like_a_catalogue_entry_resolves_as_the_list_orders_them(studio_home, tiny_lm):
    packaged = catalog.PACKAGED_MODELS[0].name  # the packaged SmolLM2
    twin = studio_home / "models" / packaged
    shutil.copytree(studio_home / "models" / tiny_lm, twin)
    try:
        first_listed = next(s for s in catalog.entries("generation") if s.name == packaged)
        assert catalog.resolve("generation", packaged) == first_listed
    finally:
        shutil.rmtree(twin)
