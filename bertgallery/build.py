"""The pipeline: config -> one run per (model, sentence) -> analyses -> one site of models x sentences, written
into a staging folder and swapped in.

Each model is loaded in turn, runs every sentence that needs it (and its corpus pass), and is let go before the
next is loaded. A (model, sentence)'s expensive outputs (its results: data.json, the view's data, the parse;
its pictures: the PNGs), each model's corpus counts and each pair of models' comparison are reused from the
previous site when their key and every file's hash match (reuse.py), wherever that site kept them; all HTML is
rewritten from the results on every build. When the new site would be the old one, nothing is swapped in, and
torch is never imported.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from itertools import chain, combinations
from pathlib import Path

from . import cache, corpus, heads, model, names, output, png, reuse, site, syntax, views
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
    rebuilt: int  # sentences that went through a model (a sentence run by two models counts twice)
    images: int
    seconds: float
    index: Path
    model: model.ModelInfo  # the first masked LM: the one --print prints
    bytes: int | None = None  # the whole site's size; None when nothing was written
    corpus: int = 0  # corpus sentences counted in this build (by every model)
    results: list = field(default_factory=list)  # that model's Result of every sentence, in the config's order
    models: list = field(default_factory=list)  # every model's ModelInfo, in the config's order
    live_bytes: int = 0  # the live page's model files, when the gallery has a live page


@dataclass
class Ran:
    """One model through every sentence of the gallery: computed now or taken over from the previous site."""
    info: model.ModelInfo
    identity: str
    folder: str  # its sub-folder in every sentence's folder and in heads/; "" in a gallery of one
    results: list[Result]  # per sentence, in the config's order
    files: list[dict]  # per sentence: {file name: sha256} of its folder
    svgs: list[str]  # per sentence: the parse's SVG, "" without one
    attention: list  # per sentence: the view's 16-bit weights [L, H, T, T], kept only to compare models
    counted: corpus.Counted | None  # the corpus counts
    corpus_entry: Entry | None
    kept: corpus.Kept | None = None  # with several models and a corpus: its first sentences' attention, to compare
    kept_entry: Entry | None = None
    rebuilt: int = 0
    images: int = 0
    corpus_now: int = 0  # corpus sentences counted in this build
    kept_now: bool = False  # the corpus attention run in this build


def build(cfg: Config, out: Path, options: Options = Options()) -> Summary:
    start = time.time()
    out = output.target(out)
    _check_files_folder(cfg, out)
    output.read_manifest(out)  # refuses a folder that is not ours before the lock file goes beside it
    with output.lock(out, options.wait), _collector():
        output.cleanup(out)
        old, before = output.read_manifest(out), output.snapshot(out)
        hashes = cache.FileHashes(old.hashes if old else None)
        # a fallback must not replace a gallery of another model (one not the offline model, with several too)
        keep = next((m for m in old.models if not m.startswith("offline:")), "") if old else ""
        old = None if options.force else old
        resolved = model.resolve_all(cfg.models, options.fallback, options.allow_pickle, hashes, options.hub_timeout,
                                     keep)
        live_model = _live_model(cfg, options, hashes)  # before any work: a live model that cannot be had is one line
        several = len(resolved) > 1
        folders = model.slugs([r.spec for r in resolved]) if several else [""]
        plans = [reuse.plan(cfg, r.identity, old, out, hashes) for r in resolved]
        from . import parser
        drawing = any(s.slug not in reused for reused, _, todo in plans for s in todo)  # others take theirs over
        # spaCy loads in a process of its own while the model does
        parsing = any(todo or (cfg.corpus and counted is None) for _, counted, todo in plans)
        if parsing:  # a model runs (else, as in a rebuild with nothing to do, matplotlib's figures are not needed)
            from . import render  # matplotlib; the workers fork before torch starts its threads
        with output.Staging(out) as staging, \
                (render.Workers(enabled=drawing) if parsing else contextlib.nullcontext()) as workers, \
                parser.Background(render.process() if parsing and render.PROCESSES > 1 else None):
            ran = [_run(cfg, r, folder, plan, old, out, hashes, staging, workers, options, several, keep)
                   for r, folder, plan in zip(resolved, folders, plans)]
            if not any(r.info.masked_lm for r in ran):  # hub models that turned out to have no head
                raise model.only_encoders([r.info.name for r in ran])
            compared, compare_entries = _compare(cfg, resolved, ran, old, out, staging)
            first = next(r for r in ran if r.info.masked_lm)  # the gallery's (first) masked LM
            live_page, live_entries, exported = \
                _live(cfg, live_model or model.Resolved(first.info.name, first.identity, first.info.note), first, old,
                      out, staging, options) if cfg.live is not None else (None, [], False)
            gallery = _gallery(cfg, ran, compared, live_page)
            # one page at a time: 2,000 sentences' head pages together are hundreds of MB
            pages = {relpath: staging.write(relpath, content)
                     for relpath, content in chain(site.pages(gallery), _plots(gallery, old, out))}
            author = {f.name: staging.write(f.name, _author_file(cfg, f)) for f in cfg.files}
            manifest = Manifest([r.identity for r in ran],
                                [Entry(names.folder(s.slug, r.folder), reuse.keys(cfg, r.identity, s.text, s.pair),
                                       files)
                                 for r in ran for s, files in zip(cfg.sentences, r.files)], pages,
                                [r.corpus_entry for r in ran if r.corpus_entry] +
                                [r.kept_entry for r in ran if r.kept_entry], compare_entries, hashes.used,
                                live_entries, author)
            rebuilt, images = sum(r.rebuilt for r in ran), sum(r.images for r in ran)
            counted_now = sum(r.corpus_now for r in ran)
            printed = next(r for r in ran if r.info.masked_lm)
            summary = Summary(len(cfg.sentences), rebuilt, images, 0.0, out / names.PAGE, printed.info, None,
                              counted_now, printed.results, [r.info for r in ran],
                              live_page.bytes if live_page else 0)
            # every reused file was verified; something computed may have replaced a damaged one
            if old and not rebuilt and not counted_now and not any(r.kept_now for r in ran) and not exported and \
                    output.untouched(out, old) and \
                    (manifest.sentences, manifest.pages, manifest.corpus, manifest.compare, manifest.live,
                     manifest.author) == (old.sentences, old.pages, old.corpus, old.compare, old.live, old.author):
                summary.seconds = time.time() - start
                return summary
            staging.write(names.MANIFEST, json.dumps(manifest.to_json(), indent=1))
            summary.bytes = output.folder_bytes(staging.path)
            staging.swap(before)
    summary.seconds = time.time() - start
    return summary


def _check_files_folder(cfg: Config, out: Path) -> None:
    """The author's folder (files:) and the output must be apart: a build replaces the output whole (their files
    would go with it), and an output inside their folder would be copied into itself."""
    if cfg.files_folder is None:
        return
    theirs, site_path = Path(os.path.realpath(cfg.files_folder)), Path(os.path.realpath(out))
    if theirs == site_path or site_path in theirs.parents:
        raise ConfigError(f"{cfg.path}: 'files' folder {cfg.files_folder} is inside the output folder {out}, which "
                          "every build replaces whole; keep your files outside it")
    if theirs in site_path.parents:
        raise ConfigError(f"{cfg.path}: the output folder {out} is inside the 'files' folder {cfg.files_folder}; "
                          "build the site outside it (--out)")


def _author_file(cfg: Config, f) -> bytes:
    """One of the author's files as it is now (it was listed when the configuration was read)."""
    from .config import MAX_AUTHOR_BYTES, read_regular
    try:
        data = read_regular(f.path, MAX_AUTHOR_BYTES, f"{cfg.path}: 'files': {f.name}")
    except OSError as e:
        raise ConfigError(f"{cfg.path}: 'files': {f.name}: cannot read it ({e.strerror})") from None
    if len(data) > MAX_AUTHOR_BYTES:
        raise ConfigError(f"{cfg.path}: 'files': {f.name} is larger than {MAX_AUTHOR_BYTES // 1_000_000} MB")
    return data


def _run(cfg: Config, resolved: model.Resolved, folder: str, plan, old: Manifest | None, out: Path,
         hashes: cache.FileHashes, staging: output.Staging, workers, options: Options, compared: bool,
         keep: str) -> Ran:
    """One model: loaded only if a sentence or its corpus needs it, run, and let go before the next model.
    `compared`: keep its attention (with a corpus, its first sentences' too) for comparing it with the others;
    `keep`: see model.load."""
    reused, counted, todo = plan
    info, identity, rebuilt, images, counted_now = None, resolved.identity, 0, 0, 0
    heads_folder = names.heads_folder(folder)
    results, files, svgs, attention = {}, {}, {}, {}
    kept = reuse.kept(cfg, identity, old, out) if compared else None
    keeping = compared and bool(cfg.corpus) and kept is None
    if todo or (cfg.corpus and counted is None) or keeping:
        loaded = model.load(resolved, options.fallback, options.allow_pickle, options.device, options.hub_timeout,
                            keep)
        info, identity = loaded.info, loaded.identity
        if identity != resolved.identity:  # downloaded, or fell back, just now
            reused, counted, todo = reuse.plan(cfg, identity, old, out, hashes)
            kept = reuse.kept(cfg, identity, old, out) if compared else None
            keeping = compared and bool(cfg.corpus) and kept is None
        for s, result, written, weights in _compute(cfg, loaded, todo, reused, workers, options.progress):
            results[s.slug], svgs[s.slug] = result, written.get(names.PARSE, "")
            files[s.slug] = {name: staging.write(f"{names.folder(s.slug, folder)}/{name}", data)
                             for name, data in written.items()}
            images += sum(map(names.is_picture, written))
            if compared:
                attention[s.slug] = weights
        rebuilt = len(todo)
        attention_now = None  # the first corpus sentences' attention, when they are run now
        if cfg.corpus and counted is None:  # one pass for the counts and, if needed, that attention
            found, attention_now = corpus.count_and_keep(loaded, cfg.corpus, corpus.COMPARED if keeping else 0,
                                                         options.progress)
            counted_now = found.totals.sentences
            if found.skipped:
                print(corpus.skipped_note(found.skipped, loaded.max_tokens), file=sys.stderr)
            written = staging.write(f"{heads_folder}/{names.CORPUS}", json.dumps(found.to_json(), separators=(",", ":")))
            counted = reuse.Reused(Entry(heads_folder, reuse.corpus_key(cfg, identity, hashes),
                                         {names.CORPUS: written}), None, found)
        if keeping:
            found = attention_now or corpus.attention(loaded, cfg.corpus[:corpus.COMPARED])
            written = staging.write(f"{heads_folder}/{names.CORPUS_ATTENTION}",
                                    json.dumps(found.to_json(), separators=(",", ":")))
            kept = reuse.Reused(Entry(heads_folder, reuse.kept_key(cfg, identity),
                                      {names.CORPUS_ATTENTION: written}), None, kept=found)
        net = weakref.ref(loaded.net)
        del loaded
        gc.collect()  # before the next model is loaded: two BERT-base models peak at about one's memory
        if net() is not None:  # held in a reference cycle, frozen with the rest (_collector): only a full pass frees it
            gc.unfreeze()
            gc.collect()
    if counted and not counted_now:  # taken over from the previous site (reuse.corpus_counts checked it)
        _link(staging, out, counted.entry, heads_folder)
        counted = reuse.Reused(Entry(heads_folder, counted.entry.keys, counted.entry.files), None, counted.counted)
    if kept and not keeping:  # taken over (reuse.kept checked it)
        _link(staging, out, kept.entry, heads_folder)
        kept = reuse.Reused(Entry(heads_folder, kept.entry.keys, kept.entry.files), None, kept=kept.kept)
    for slug, r in reused.items():
        if any(map(names.is_picture, files.get(slug, {}))):
            continue  # drawn after all: the old ones were not exactly this run's
        _link(staging, out, r.entry, names.folder(slug, folder), r.files())
        results[slug] = r.result or results[slug]
        files[slug] = files.get(slug, {}) | r.files()
        if slug not in svgs:  # the previous site's file, verified: never what this build just wrote
            svgs[slug] = _text(out / r.entry.folder / names.PARSE) if names.PARSE in r.entry.files else ""
        if compared and slug not in attention:
            attention[slug] = views.read_view(_text(out / r.entry.folder / names.VIEW_DATA))
    first = results[cfg.sentences[0].slug]
    if info is None:
        info = model.describe(resolved, first.layers, first.heads_per_layer)
        if resolved.masked_lm is None:  # a hub model never loaded here: every sentence has a [MASK] it fills
            info.masked_lm = bool(first.masks)
    info.slug = folder
    return Ran(info, identity, folder, [results[s.slug] for s in cfg.sentences],
               [files[s.slug] for s in cfg.sentences], [svgs[s.slug] for s in cfg.sentences],
               [attention.get(s.slug) for s in cfg.sentences], counted.counted if counted else None,
               counted.entry if counted else None, kept.kept if kept else None, kept.entry if kept else None,
               rebuilt, images, counted_now, keeping)


def _link(staging: output.Staging, out: Path, entry: Entry, folder: str, files: dict | None = None) -> None:
    """The files of a previous build's entry (or those of them in `files`), verified, into `folder` of the new
    site."""
    for name, digest in (entry.files if files is None else files).items():
        staging.link(f"{folder}/{name}", out / entry.folder / name, digest)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _compute(cfg: Config, loaded, todo: list[Sentence], reused: dict, workers, progress: bool):
    """Yields (sentence, result, {file name: content}, its 16-bit attention) for each sentence in `todo`, one at
    a time, so memory stays flat however many there are; without the pictures it takes over from `reused`."""
    from tqdm import tqdm

    from . import measure
    # each sentence's figures and autograd graph are webs of reference cycles that Python's own collections freed
    # too seldom (the build peaked at 797 MB for 4 sentences, 844 MB for 20); with the model and the libraries frozen
    # (_collector), a collection after each sentence walks only what the sentence made
    gc.freeze()
    # the bar only on a terminal (None): logs and pipes get just the summary line
    for s in tqdm(todo, desc=f"sentences ({loaded.info.name})", unit="sentence",
                  disable=None if progress else True, file=sys.stderr, leave=False):
        result, files, attention = measure.sentence(
            loaded, s.text, cfg.top_k, cfg.colormap, cfg.importance, workers,
            culprit=f"{s.where} ",
            have=frozenset(reused[s.slug].files()) if s.slug in reused else frozenset(), pair=s.pair)
        yield s, result, files, views.quantized(attention)
        _collect()


def _live_model(cfg: Config, options: Options, hashes) -> model.Resolved | None:
    """The model `live:` names instead of the gallery's (None: the gallery's, or no live page), resolved as
    `model:` is, with the same fallback."""
    if not cfg.live:
        return None
    try:
        return model.resolve(cfg.live, options.fallback, options.allow_pickle, hashes, options.hub_timeout)
    except ConfigError as e:
        raise ConfigError(f"{cfg.path}: 'live': {e}") from None


def _live(cfg: Config, wanted: model.Resolved, first: Ran, old: Manifest | None, out: Path, staging,
          options: Options):
    """(what the live page says about its model, its manifest entries, whether it was exported now): the model
    exported for the browser (loaded for it, on the CPU), or taken over from the previous site when its key
    matches and its files are unmodified; (None, [], False), with a note, when the model cannot run in the
    browser (the rest of the gallery is built)."""
    from . import live
    same = bool(wanted.identity) and wanted.identity == first.identity  # its head pages are the gallery's
    known = live.known_config(wanted.spec)
    why = live.refusal(known)  # known without loading the model, so a rebuild does not load it to say so again
    keys = reuse.live_key(wanted.identity) if wanted.identity else None
    taken = next((e for e in old.live if e.keys == keys), None) if old and keys and known is not None else None
    exported = False
    if not why and taken and cache.verified(out / taken.folder, taken.files):
        _link(staging, out, taken, names.LIVE)
        files, (layers, heads) = taken.files, live.shape(known)
    elif not why:
        net = model.load(wanted, options.fallback, options.allow_pickle, "cpu", options.hub_timeout)
        try:
            written = live.export(net.net, net.tokenizer)
        except ValueError as e:
            why = str(e)
        else:
            files = {name: staging.write(f"{names.LIVE}/{name}", content) for name, content in written.items()}
            keys, layers, heads, exported = reuse.live_key(net.identity), net.info.layers, net.info.heads, True
            wanted = model.Resolved(net.info.name, net.identity, net.info.note)
            same = net.identity == first.identity
        del net
        gc.collect()
    if why:
        print(f"note: {why}; the rest of the gallery is built without the live page", file=sys.stderr)
        return None, [], False
    size = sum((staging.path / names.LIVE / name).stat().st_size for name in files)
    heads_pages = f"../{names.heads_folder(first.folder)}/" if same else None
    return site.LivePage(wanted.spec, layers, heads, size, len(files), heads_pages, cfg.top_k, wanted.note), \
        [Entry(names.LIVE, keys, files)], exported


def _compare(cfg: Config, resolved: list[model.Resolved], ran: list[Ran], old, out: Path, staging):
    """Each pair of models (config order: a before b) compared: taken over when both models' results (and
    attention of the first corpus sentences) are the previous build's, else computed from the 16-bit attention
    of the gallery's sentences and the first corpus.COMPARED of its corpus. ([compare.Compared], [manifest
    entries])"""
    from . import compare
    compared, entries, tokenizers = [], [], {}

    def words(side: compare.Side, k: int, text: str, pair=None) -> None:
        """The side's tokens aligned to the words of the text (model k's tokenizer, loaded once)."""
        if k not in tokenizers:
            tokenizers[k] = model.tokenizer(resolved[k] if resolved[k].spec == ran[k].info.name
                                            else model.Resolved(ran[k].info.name, ran[k].identity))
        side.words = compare.words_of(text, tokenizers[k], pair)

    for (i, a), (j, b) in combinations(enumerate(ran), 2):
        folder = names.compare_folder(a.folder, b.folder)
        results = [[reuse.keys(cfg, r.identity, s.text, s.pair)["results"] for s in cfg.sentences] +
                   ([r.kept_entry.keys["attention"]] if r.kept_entry else []) for r in (a, b)]
        wanted = reuse.compare_key(*results)
        taken, back = reuse.comparison(wanted, old, out), None
        if taken:
            _link(staging, out, taken.entry, folder)
            found = taken.compared
        elif back := reuse.comparison(reuse.compare_key(*results[::-1]), old, out):  # the pair, reordered
            found = back.compared.swapped()
            taken = reuse.Reused(Entry(folder, wanted, {names.COMPARE_DATA: staging.write(
                f"{folder}/{names.COMPARE_DATA}", json.dumps(found.to_json(), separators=(",", ":")))}), None,
                compared=found)
        else:
            pair = compare.Pair([a.info.name, b.info.name], [[a.info.layers, a.info.heads],
                                                             [b.info.layers, b.info.heads]],
                                corpus_first=min(corpus.COMPARED, len(cfg.corpus)))
            for s, ra, rb, xa, xb in zip(cfg.sentences, a.results, b.results, a.attention, b.attention):
                sides = [compare.Side(ra.tokens, xa), compare.Side(rb.tokens, xb)]
                if ra.tokens != rb.tokens:
                    for side, k in zip(sides, (i, j)):
                        words(side, k, s.text, s.pair)
                pair.add(*sides)
                if a.info.masked_lm and b.info.masked_lm:
                    pair.predictions(ra.masks, rb.masks, cfg.top_k)
            ours = (a.kept.lines, a.kept.texts, a.kept.tokens, a.kept.attention) if a.kept and b.kept else ()
            theirs = dict(zip(b.kept.lines, zip(b.kept.tokens, b.kept.attention))) if ours else {}
            for line, text, tokens, weights in zip(*ours):
                if line in theirs:  # else too long for b
                    sides = [compare.Side(tokens, weights), compare.Side(*theirs[line])]
                    if tokens != theirs[line][0]:
                        for side, k in zip(sides, (i, j)):
                            words(side, k, text)
                    pair.add(*sides, corpus=True)
            found = pair.result(a.info.masked_lm and b.info.masked_lm)
            digest = staging.write(f"{folder}/{names.COMPARE_DATA}",
                                   json.dumps(found.to_json(), separators=(",", ":")))
            taken = reuse.Reused(Entry(folder, wanted, {names.COMPARE_DATA: digest}), None, compared=found)
        compared.append((i, j, found))
        entries.append(Entry(folder, wanted, taken.entry.files))
    return compared, entries


def gallery_model(cfg: Config, info: model.ModelInfo, folder: str, results: list[Result], svgs: list[str],
                  counted: corpus.Counted | None) -> site.Shown:
    """One model of the gallery as the site shows it: its pages of every sentence, its heads over them."""
    layers, per_layer = results[0].layers, results[0].heads_per_layer
    totals, pool = heads.Totals.empty(layers, per_layer), syntax.Pool(layers, per_layer)
    pages = []
    for number, (s, result, svg) in enumerate(zip(cfg.sentences, results, svgs), start=1):
        totals.add(result.values(), len(result.tokens))
        if result.syntax:
            pool.add(result.syntax)
        pages.append(site.Page(s.slug, s.title or f"Sentence {number}", s.note, result, svg, s.question))
    if counted:
        totals, pool = totals.merge(counted.totals), pool.merge(counted.pool)
    return site.Shown(info, folder, pages, totals, pool, counted.totals.sentences if counted else 0,
                      (len(counted.skipped), counted.unaligned) if counted else (0, 0))


def _gallery(cfg: Config, ran: list[Ran], compared: list, live: site.LivePage | None = None) -> site.Gallery:
    shown = [gallery_model(cfg, r.info, r.folder, r.results, r.svgs, r.counted) for r in ran]
    return site.Gallery(shown, cfg.path.name, cfg.colormap, compared, live, cfg.title, cfg.intro,
                        [f.name for f in cfg.files], len(cfg.corpus))


@contextlib.contextmanager
def _collector():
    """The cyclic collector through a build: what outlives a sentence (the libraries, the model, the caller's
    objects) is frozen as a model starts its sentences (_compute), so the collection after each sentence walks
    only what the sentence made, and a model goes by reference counting when it is let go (a test checks it).
    At the end, what was frozen is the collector's again, unless the caller had frozen objects of its own (a
    test run does): then the freeze stays, or every later collection of the caller's would walk them all. (A
    model held in a reference cycle is the exception: _run unfreezes everything to free it.)"""
    thawed = gc.get_freeze_count() == 0
    try:
        yield
    finally:
        if thawed:
            gc.unfreeze()


def _collect() -> None:
    """gc.collect() with Ctrl-C, SIGTERM and SIGHUP deferred until it is done: a signal's exception raised inside
    an object's finaliser is printed and ignored by Python, and the build went on as if never interrupted.
    Blocking the signals in this thread is not enough (the kernel hands a process's signal to any thread that
    does not block it, torch's among them): their handlers note them instead, and the first one noted is handed
    to its own handler after the collection, where the build can stop."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        gc.collect()
        return
    noted: list[int] = []
    wanted = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    before = {s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in wanted}
    try:
        gc.collect()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    if noted:
        handler = before[noted[0]]
        if callable(handler):
            handler(noted[0], None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(noted[0])


def _plain(value):
    """A plot's input as JSON can hold it (arrays, also inside the lists of a pair's plot), for its key."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _plots(gallery: site.Gallery, old: Manifest | None, out: Path) -> list[tuple[str, bytes]]:
    """Each model's per-layer plot on its heads page, and each pair's in its compare folder: the previous site's
    where it was drawn from the same means by the same code (reuse.picture), else drawn now."""
    labels = [heads.STATISTICS[heads.INDEX[k]].label for k in site.LAYER_PLOT_KEYS]

    def plot(relpath: str, draw: str, *inputs) -> tuple[str, bytes]:
        wanted = reuse.plot_key(draw, *map(_plain, inputs))
        found = reuse.picture(old, out, relpath, wanted)
        if found is None:
            from . import plots  # matplotlib's figures: only when a plot is drawn
            found = png.keyed(getattr(plots, draw)(*inputs), wanted)
        return relpath, found

    out_ = []
    for m in gallery.models:
        means = heads.per_layer(m.totals, site.LAYER_PLOT_KEYS)
        out_ += [plot(f"{names.heads_folder(m.folder)}/{name}", "render_layer_plot", means, labels, size,
                      site.LAYER_PLOT_STYLES)
                 for name, size in ((names.LAYER_PLOT, site.LAYER_PLOT_SIZE),
                                    (names.LAYER_PLOT_NARROW, site.LAYER_PLOT_NARROW_SIZE))]
    for i, j, _ in gallery.compared:
        a, b = gallery.models[i], gallery.models[j]
        out_.append(plot(f"{names.compare_folder(a.folder, b.folder)}/{names.COMPARE_PLOT}", "render_compare_plot",
                         [heads.per_layer(m.totals, site.LAYER_PLOT_KEYS) for m in (a, b)], labels,
                         [a.info.name, b.info.name], site.LAYER_PLOT_SIZE))
    return out_
