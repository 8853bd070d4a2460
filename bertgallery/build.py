"""The pipeline: config -> model run -> render -> analyse -> site, written into a staging folder and swapped in.

A sentence's expensive outputs (its results: data.json, the view's data; its pictures: the PNGs) and the corpus
counts are reused from the previous site when their key and every file's hash match (reuse.py); all HTML is
rewritten from the results on every build. When the new site would be the old one, nothing is swapped in, and
torch is never imported.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from . import cache, corpus, heads, model, names, output, reuse, site, syntax
from .config import Config, ConfigError, Sentence
from .manifest import Entry, Manifest
from .records import Result

@dataclass
class Options:
    fallback: bool = True  # use the offline model when a hub model cannot be had
    force: bool = False  # recompute every sentence
    allow_pickle: bool = False
    progress: bool = True
    wait: bool = True  # for another build of the same output to finish
    device: str = "auto"  # where the model runs: auto (a GPU when torch sees one), cpu or cuda
    hub_timeout: float = model.HUB_TIMEOUT  # seconds to wait for the hub to answer before it counts as unreachable


@dataclass
class Summary:
    sentences: int
    rebuilt: int  # sentences that went through the model
    images: int
    seconds: float
    index: Path
    model: model.ModelInfo
    bytes: int | None = None  # the whole site's size; None when nothing was written
    corpus: int = 0  # corpus sentences counted in this build
    results: list = field(default_factory=list)  # every sentence's Result, in the config's order
    live_bytes: int = 0  # the live page's model files, when the gallery has a live page


def build(cfg: Config, out: Path, options: Options = Options()) -> Summary:
    start = time.time()
    out = output.target(out)
    output.read_manifest(out)  # refuses a folder that is not ours before the lock file goes beside it
    with output.lock(out, options.wait):
        output.cleanup(out)
        old, before = output.read_manifest(out), output.snapshot(out)
        hashes = cache.FileHashes(old.hashes if old else None)
        keep = old.model if old else ""  # a fallback must not replace a gallery of another model
        old = None if options.force else old
        resolved = model.resolve(cfg.model, options.fallback, options.allow_pickle, hashes, options.hub_timeout, keep)
        live_model = _live_model(cfg, options, hashes)  # before any work: a live model that cannot be had is one line
        identity, (reused, counted, todo) = resolved.identity, reuse.plan(cfg, resolved.identity, old, out, hashes)
        from . import plots, render  # matplotlib; the workers fork before torch starts its threads
        drawing = any(s.slug not in reused for s in todo)  # the others take over their pictures
        with output.Staging(out) as staging, render.Workers(enabled=drawing) as workers:
            info, files, results, counted_now, images, loaded = None, {}, {}, 0, 0, None
            if todo or (cfg.corpus and counted is None):
                loaded = model.load(resolved, options.fallback, options.allow_pickle, options.device, options.hub_timeout,
                                    keep)
                info, identity = loaded.info, loaded.identity
                if identity != resolved.identity:  # downloaded, or fell back, just now
                    reused, counted, todo = reuse.plan(cfg, identity, old, out, hashes)
                for s, result, written in _compute(cfg, loaded, todo, reused, workers, options.progress):
                    results[s.slug] = result
                    files[s.slug] = {name: staging.write(f"{s.slug}/{name}", data) for name, data in written.items()}
                    images += sum(map(names.is_picture, written))
                if cfg.corpus and counted is None:
                    counted = corpus.count(loaded, cfg.corpus, options.progress)
                    counted_now = counted.totals.sentences
                    if counted.skipped:
                        print(corpus.skipped_note(counted.skipped, loaded.max_tokens), file=sys.stderr)
            for slug, r in reused.items():
                if any(map(names.is_picture, files.get(slug, {}))):
                    continue  # drawn after all: the old ones were not exactly this run's
                for name, digest in r.files().items():
                    staging.link(f"{slug}/{name}", out / r.entry.slug / name, digest)
                results[slug] = r.result or results[slug]
                files[slug] = files.get(slug, {}) | r.files()
            corpus_entry = None
            if cfg.corpus and counted_now:
                written = staging.write(reuse.CORPUS, json.dumps(counted.to_json(), separators=(",", ":")))
                corpus_entry = Entry(names.HEADS, reuse.corpus_key(cfg, identity, hashes), {names.CORPUS: written})
            elif cfg.corpus:  # taken over from the previous site (reuse.corpus_counts checked it)
                corpus_entry = old.corpus
                staging.link(reuse.CORPUS, out / reuse.CORPUS, old.corpus.files[names.CORPUS])
            gallery_model = model.Resolved(loaded.info.name, loaded.identity, loaded.info.note) if loaded else resolved
            live_page, live_entry, exported = _live(cfg, live_model or gallery_model, gallery_model, loaded, old, out,
                                                    staging, options) if cfg.live is not None else (None, None, False)
            first = results[cfg.sentences[0].slug]
            info = info or model.describe(resolved, first.layers, first.heads_per_layer)
            svgs = [_text(staging.path / s.slug / names.PARSE) for s in cfg.sentences]
            gallery = _gallery(cfg, info, [results[s.slug] for s in cfg.sentences], svgs, counted, live_page)
            means = heads.per_layer(gallery.totals, site.LAYER_PLOT_KEYS)
            labels = [heads.STATISTICS[heads.INDEX[k]].label for k in site.LAYER_PLOT_KEYS]
            plotted = [(f"{names.HEADS}/{name}", plots.render_layer_plot(means, labels, size))
                       for name, size in ((names.LAYER_PLOT, site.LAYER_PLOT_SIZE),
                                          (names.LAYER_PLOT_NARROW, site.LAYER_PLOT_NARROW_SIZE))]
            # one page at a time: 2,000 sentences' head pages together are hundreds of MB
            pages = {relpath: staging.write(relpath, content)
                     for relpath, content in chain(site.pages(gallery), plotted)}
            manifest = Manifest(identity, [Entry(s.slug, reuse.keys(cfg, identity, s.text), files[s.slug])
                                           for s in cfg.sentences], pages, corpus_entry, hashes.used, live_entry)
            # every reused file was verified; something computed may have replaced a damaged one
            if old and not todo and not counted_now and not exported and output.untouched(out, old) and \
                    (manifest.sentences, manifest.pages, manifest.corpus, manifest.live) == \
                    (old.sentences, old.pages, old.corpus, old.live):
                return Summary(len(cfg.sentences), 0, 0, time.time() - start, out / names.PAGE, info,
                               results=[results[s.slug] for s in cfg.sentences])
            staging.write(names.MANIFEST, json.dumps(manifest.to_json(), indent=1))
            size = output.folder_bytes(staging.path)
            staging.swap(before)
    return Summary(len(cfg.sentences), len(todo), images, time.time() - start, out / names.PAGE, info, size,
                   counted_now, [results[s.slug] for s in cfg.sentences], live_page.bytes if live_page else 0)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _compute(cfg: Config, loaded, todo: list[Sentence], reused: dict, workers, progress: bool):
    """Yields (sentence, result, {file name: content}) for each sentence in `todo`, one at a time, so memory
    stays flat however many there are; without the pictures it takes over from `reused`."""
    from tqdm import tqdm

    from . import measure
    numbers = {s.slug: i for i, s in enumerate(cfg.sentences, start=1)}
    # the bar only on a terminal (None): logs and pipes get just the summary line
    for s in tqdm(todo, desc="sentences", unit="sentence", disable=None if progress else True, file=sys.stderr,
                  leave=False):
        result, files = measure.sentence(loaded, s.text, cfg.top_k, cfg.colormap, cfg.importance, workers,
                                         culprit=f"{cfg.path}:{s.line}: sentence {numbers[s.slug]} ",
                                         have=frozenset(reused[s.slug].files()) if s.slug in reused else frozenset())
        yield s, result, files


def _live_model(cfg: Config, options: Options, hashes) -> model.Resolved | None:
    """The model `live:` names instead of the gallery's (None: the gallery's, or no live page), resolved as
    `model:` is, with the same fallback."""
    if not cfg.live:
        return None
    try:
        return model.resolve(cfg.live, options.fallback, options.allow_pickle, hashes, options.hub_timeout)
    except ConfigError as e:
        raise ConfigError(f"{cfg.path}: 'live': {e}") from None


def _live(cfg: Config, wanted: model.Resolved, gallery: model.Resolved, loaded, old, out: Path, staging,
          options: Options):
    """(what the live page says about its model, the model's manifest entry, whether it was exported now): the
    model exported for the browser, or taken over from the previous site when its key matches and its files are
    unmodified; (None, None, False), with a note, when the model cannot run in the browser (the rest of the
    gallery is built)."""
    from . import live
    same = bool(wanted.identity) and wanted.identity == gallery.identity  # its head pages are the gallery's
    known = live.known_config(wanted.spec)
    why = live.refusal(known)  # known without loading the model, so a rebuild does not load it to say so again
    keys = reuse.live_key(wanted.identity) if wanted.identity else None
    folder, exported = out / names.LIVE, False
    if not why and keys and known is not None and old is not None and old.live is not None \
            and old.live.keys == keys and cache.verified(folder, old.live.files):
        for name, digest in old.live.files.items():
            staging.link(f"{names.LIVE}/{name}", folder / name, digest)
        files, (layers, heads) = old.live.files, live.shape(known)
    elif not why:
        net = loaded if same and loaded is not None else \
            model.load(wanted, options.fallback, options.allow_pickle, "cpu", options.hub_timeout)
        try:
            written = live.export(net.net, net.tokenizer)
        except ValueError as e:
            why = str(e)
        else:
            files = {name: staging.write(f"{names.LIVE}/{name}", content) for name, content in written.items()}
            keys, layers, heads, exported = reuse.live_key(net.identity), net.info.layers, net.info.heads, True
            wanted = model.Resolved(net.info.name, net.identity, net.info.note)
    if why:
        print(f"note: {why}; the rest of the gallery is built without the live page", file=sys.stderr)
        return None, None, False
    size = sum((staging.path / names.LIVE / name).stat().st_size for name in files)
    return site.LivePage(wanted.spec, layers, heads, size, len(files), same, cfg.top_k, wanted.note), \
        Entry(names.LIVE, keys, files), exported


def _gallery(cfg: Config, info: model.ModelInfo, results: list[Result], svgs: list[str],
             counted: corpus.Counted | None, live: site.LivePage | None = None) -> site.Gallery:
    layers, per_layer = results[0].layers, results[0].heads_per_layer
    totals, pool = heads.Totals.empty(layers, per_layer), syntax.Pool(layers, per_layer)
    entries = []
    for number, (s, result, svg) in enumerate(zip(cfg.sentences, results, svgs), start=1):
        totals.add(result.values(), len(result.tokens))
        if result.syntax:
            pool.add(result.syntax)
        entries.append(site.Entry(s.slug, s.title or f"Sentence {number}", s.note, result, svg))
    if counted:
        totals, pool = totals.merge(counted.totals), pool.merge(counted.pool)
    return site.Gallery(entries, info, cfg.path.name, cfg.colormap, totals, pool,
                        counted.totals.sentences if counted else 0,
                        (len(counted.skipped), counted.unaligned) if counted else (0, 0), live)
