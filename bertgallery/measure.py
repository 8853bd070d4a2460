"""Stage 4: everything measured about one sentence, from one model run to a records.Result and its files.

The ranked predictions, attention, value norms and contributions (model.py, mixing.py), each mask's head
importance and rollout (attribution.py), every head's statistics (heads.py), the syntax its heads follow
(syntax.py, parser.py), and the pictures (plots.py): the files a sentence folder caches between builds.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from . import attribution, heads, model, names, parser, plots, render, syntax, views
from .config import MASK
from .records import Result


def result(loaded: model.Model, text: str, top_k: int, importance: str, culprit: str = "",
           after_torch=None, pair: str = "") -> tuple[Result, np.ndarray]:
    """One sentence's (or sentence pair's: `pair` is its second segment) Result and its attention [layers,
    heads, T, T]. `after_torch(run, masks)` is called once torch is done with the sentence (the forward pass and
    importance): the build starts drawing there."""
    run = model.predict(loaded, text, top_k, culprit, pair, importance)
    why = attribution.explain(loaded.net, run, importance)
    # each mask made whole once: its predictions with its importance and rollout
    masks = [replace(m, rollout=why.rollout[k], importance=None if why.importance is None else why.importance[k])
             for k, m in enumerate(run.masks)]
    if after_torch:
        after_torch(run, masks)
    note = why.note
    scored = bool(masks) and not note
    tok = loaded.tokenizer
    stats = heads.head_stats(run.attention, run.tokens, tok.cls_token, tok.sep_token,
                             why.importance if scored else None,
                             None if run.mixing is None else run.mixing.norms, run.segments)
    # a model that fills no mask: the sentence as written, each [MASK] one word
    fills = [m.predictions[0].token for m in masks] if loaded.masked_lm else \
        [MASK] * (text.count(MASK) + pair.count(MASK))
    parsed = syntax.sentence_syntax(text, fills, tok, run.attention, pair=pair)
    layers, per_layer = run.attention.shape[:2]
    unparsed = isinstance(parsed, str)  # why the syntax could not be had
    return Result(text=text, tokens=run.tokens, masks=masks, filled=run.filled, heads=stats, layers=layers,
                  heads_per_layer=per_layer, special=run.special, head_size=render.head_size(run.tokens),
                  overview_size=render.overview_size(layers, per_layer),
                  overview_grid=render.overview_grid(layers, per_layer, len(run.tokens)),
                  overview_narrow_size=render.overview_size(layers, per_layer, narrow=True),
                  overview_narrow_grid=render.overview_grid(layers, per_layer, len(run.tokens), narrow=True),
                  importance_method=importance if scored else "", importance_note=note,
                  syntax=None if unparsed else parsed, syntax_note=parsed if unparsed else "",
                  mixing_note=run.mixing_note, mixing=run.mixing, pair=pair, segments=run.segments,
                  filled_pair=run.filled_pair, pair_note=run.pair_note), run.attention


def sentence(loaded: model.Model, text: str, top_k: int, cmap: str, importance: str, workers: render.Workers,
             culprit: str = "", have: frozenset = frozenset(),
             pair: str = "") -> tuple[Result, dict[str, bytes | str], np.ndarray]:
    """(the sentence's Result, {file name: content} of its folder, its attention). `have` names the pictures
    the previous build drew under the same key: they are not drawn again if they are exactly this run's."""
    drawing = []

    def draw(run, masks):  # once torch is done (the model run and importance): on 2 cores, torch and the workers slow
        # each other down more than running one after the other costs
        if names.pictures(*run.attention.shape[:2], bool(run.masks)) != have:
            drawing.append(plots.sentence(run, masks, cmap, workers))
    found, attention = result(loaded, text, top_k, importance, culprit, after_torch=draw, pair=pair)
    found = found.stored()  # the pages of a sentence computed now are those of one taken over from its data.json
    files = {names.VIEW_DATA: views.view_data(found, attention, cmap, loaded.info.name),
             names.DATA: json.dumps(found.to_json(loaded.info), ensure_ascii=False, separators=(",", ":"))}
    if found.syntax:
        files[names.PARSE] = parser.svg(found.syntax, "parse")
    if drawing:
        files.update(drawing[0]())
    return found, files, attention
