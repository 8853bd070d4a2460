"""The pipeline: config -> model run -> render -> analyse -> site, written into a staging folder and swapped in.

A sentence's expensive results (model run, PNGs, data.json, the view's data) are reused from the previous
site when their key (cache.result_key) and every file's hash match; all HTML is rewritten from the results
on every build. When the new site would be the old one, nothing is swapped in, and torch is never imported.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache, heads, model, names, output, site
from .config import Config, Sentence
from .output import Entry, Manifest
from .records import Result


@dataclass
class Options:
    fallback: bool = True  # use the offline model when a hub model cannot be had
    force: bool = False  # recompute every sentence
    allow_pickle: bool = False
    progress: bool = True
    wait: bool = True  # for another build of the same output to finish


@dataclass
class Summary:
    sentences: int
    rebuilt: int  # sentences that went through the model
    images: int
    seconds: float
    index: Path
    model: model.ModelInfo
    bytes: int | None = None  # the whole site's size; None when nothing was written


@dataclass
class Reused:
    entry: Entry  # in the previous site's manifest
    result: Result


def build(cfg: Config, out: Path, options: Options = Options()) -> Summary:
    start = time.time()
    out = output.target(out)
    output.read_manifest(out)  # refuses a folder that is not ours before the lock file goes beside it
    with output.lock(out, options.wait):
        output.cleanup(out)
        old, before = output.read_manifest(out), output.snapshot(out)
        hashes = cache.FileHashes(old.hashes if old else None)
        old = None if options.force else old
        resolved = model.resolve(cfg.model, options.fallback, options.allow_pickle, hashes)
        identity, reused = resolved.identity, _reusable(cfg, resolved.identity, old, out)
        todo = [s for s in cfg.sentences if s.slug not in reused]
        from . import render  # matplotlib; the workers fork before torch starts its threads
        with output.Staging(out) as staging, render.Workers(enabled=bool(todo)) as workers:
            info, files, results = None, {}, {}
            if todo:
                loaded = model.load(resolved, options.fallback, options.allow_pickle)
                info, identity = loaded.info, loaded.identity
                if identity != resolved.identity:  # downloaded, or fell back, just now
                    reused = _reusable(cfg, identity, old, out)
                    todo = [s for s in cfg.sentences if s.slug not in reused]
                for s, result, written in _compute(cfg, loaded, todo, workers, options.progress):
                    results[s.slug] = result
                    files[s.slug] = {name: staging.write(f"{s.slug}/{name}", data) for name, data in written.items()}
            for slug, r in reused.items():
                for name, digest in r.entry.files.items():
                    staging.link(f"{slug}/{name}", out / r.entry.slug / name, digest)
                results[slug], files[slug] = r.result, r.entry.files
            first = results[cfg.sentences[0].slug]
            info = info or model.describe(resolved, first.layers, first.heads_per_layer)
            gallery = _gallery(cfg, info, [results[s.slug] for s in cfg.sentences])
            plot = render.render_layer_plot(heads.per_layer(gallery.totals, site.LAYER_PLOT_KEYS), site.LAYER_PLOT_KEYS,
                                            site.LAYER_PLOT_SIZE)
            pages = {relpath: staging.write(relpath, content)
                     for relpath, content in [*site.pages(gallery), (f"{names.HEADS}/{names.LAYER_PLOT}", plot)]}
            manifest = Manifest(identity, [Entry(s.slug, _key(cfg, identity, s.text), files[s.slug])
                                           for s in cfg.sentences], pages, hashes.used)
            # every reused folder was verified file by file; a computed one may have replaced a damaged one
            if old and not todo and (manifest.sentences, manifest.pages) == (old.sentences, old.pages) \
                    and output.untouched(out, old):
                return Summary(len(cfg.sentences), 0, 0, time.time() - start, out / names.PAGE, info)
            staging.write(names.MANIFEST, json.dumps(manifest.to_json(), indent=1))
            size = output.folder_bytes(staging.path)
            staging.swap(before)
    images = sum(len(r.heads) + 1 + bool(r.masks) for r in (results[s.slug] for s in todo))  # heads, overview, rollout
    return Summary(len(cfg.sentences), len(todo), images, time.time() - start, out / names.PAGE, info, size)


def _key(cfg: Config, identity: str, text: str) -> str:
    from .render import RENDER_VERSION
    return cache.result_key(identity, text, cfg.top_k, cfg.colormap,
                            (RENDER_VERSION, cfg.importance, heads.signature()))


def _reusable(cfg: Config, identity: str, old: Manifest | None, out: Path) -> dict[str, Reused]:
    """slug -> the previous build's results this sentence can take over: the key matches, the folder holds
    exactly the files such results have, unmodified, and its data.json reads back as this sentence's.
    Found by key, wherever in the old site they are."""
    if not identity or old is None:
        return {}
    wanted = {_key(cfg, identity, s.text): s.text for s in cfg.sentences}
    found: dict[str, Reused] = {}
    for entry in old.sentences:
        if entry.key not in wanted or entry.key in found or not cache.verified(out / entry.slug, entry.files):
            continue
        try:
            result = Result.from_json(json.loads((out / entry.slug / names.DATA).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            continue  # unreadable after all: computed again
        if result.text == wanted[entry.key] and set(entry.files) == _files(result):
            found[entry.key] = Reused(entry, result)
    return {s.slug: found[k] for s in cfg.sentences if (k := _key(cfg, identity, s.text)) in found}


def _files(result: Result) -> set[str]:
    """The files a sentence's results consist of."""
    pngs = {names.head_png(h.layer, h.head) for h in result.heads} | ({names.ROLLOUT} if result.masks else set())
    return {names.DATA, names.VIEW_DATA, names.OVERVIEW} | pngs


def _compute(cfg: Config, loaded, todo: list[Sentence], workers, progress: bool):
    """Yields (sentence, result, {file name: bytes}) for each sentence in `todo`: model run, head PNGs,
    importance and rollout, statistics and data files. One at a time, so memory stays flat."""
    from tqdm import tqdm

    from . import attribution, render
    tok = loaded.tokenizer
    numbers = {s.slug: i for i, s in enumerate(cfg.sentences, start=1)}
    # the bar only on a terminal (None): logs and pipes get just the summary line
    for s in tqdm(todo, desc="sentences", unit="sentence", disable=None if progress else True, file=sys.stderr,
                  leave=False):
        run = model.predict(loaded, s.text, cfg.top_k, culprit=f"{cfg.path}:{s.line}: sentence {numbers[s.slug]} ")
        # before the workers start drawing: on 2 cores, torch and the workers slow each other down more than
        # running one after the other costs
        note = attribution.explain(loaded.net, run, cfg.importance)
        pending = workers.heads(run.attention, run.tokens, cfg.colormap)
        scored = bool(run.masks) and not note
        importance = np.stack([m.importance for m in run.masks]) if scored else None
        layers, per_layer = run.attention.shape[:2]
        result = Result(s.text, run.tokens, run.masks, run.filled,
                        heads.analyse(run.attention, run.tokens, tok.cls_token, tok.sep_token, importance),
                        layers, per_layer, run.special, render.head_size(run.tokens),
                        render.overview_size(layers, per_layer), cfg.importance if scored else "", note)
        files = {names.OVERVIEW: render.render_overview(run.attention, cfg.colormap),
                 names.VIEW_DATA: site.view_data(result, run.attention, cfg.colormap),
                 names.DATA: json.dumps(result.to_json(loaded.info), ensure_ascii=False, separators=(",", ":"))}
        if run.masks:
            files[names.ROLLOUT] = render.render_rollout([m.rollout for m in run.masks], run.tokens,
                                                         site.rollout_labels(result), cfg.colormap)
        files.update(pending.get())
        yield s, result, files


def _gallery(cfg: Config, info: model.ModelInfo, results: list[Result]) -> site.Gallery:
    totals = heads.Totals.empty(results[0].layers, results[0].heads_per_layer)
    entries = []
    for number, (s, result) in enumerate(zip(cfg.sentences, results), start=1):
        totals.add(result.values(), len(result.tokens))
        entries.append(site.Entry(s.slug, s.title or f"Sentence {number}", s.note, result))
    return site.Gallery(entries, info, cfg.path.name, cfg.colormap, totals)
