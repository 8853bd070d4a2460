"""The pipeline: config -> model run -> render -> analyse -> site, written into a staging folder and swapped in.

A sentence's expensive results (model run, PNGs, data.json, the view's data) are reused from the previous
site when their key (cache.result_key) and every file's hash match; all HTML is rewritten from the results
on every build. A build where nothing changed writes nothing and never imports torch.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import cache, heads, model, names, output, site
from .config import Config
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
    rebuilt: int
    images: int
    seconds: float
    index: Path
    model: model.ModelInfo
    bytes: int | None = None  # the whole site's size; None when nothing was written


def build(cfg: Config, out: Path, options: Options = Options()) -> Summary:
    start = time.time()
    out = output.target(out)
    with output.lock(out, options.wait):
        output.cleanup(out)
        old = output.read_manifest(out, options.force)
        hashes = cache.FileHashes(old.get("hashes"))
        resolved = model.resolve(cfg.model, options.fallback, options.allow_pickle, hashes)
        reuse = _reusable(cfg, resolved.identity, old, out)
        todo = [s for s in cfg.sentences if s.slug not in reuse]
        prepared = None
        if not todo:
            info = _info(old)
            prepared = _gallery(cfg, info, reuse, {}, out)
            if _unchanged(cfg, old, reuse, prepared, out):
                return Summary(len(cfg.sentences), 0, 0, time.time() - start, out / names.PAGE, info)
        from . import render  # matplotlib, and the worker processes forked before torch starts its threads
        with output.Staging(out) as staging, render.Workers(0 if not todo else None) as workers:
            results, identity = {}, resolved.identity
            if todo:
                loaded = model.load(resolved, options.fallback, options.allow_pickle)
                identity, info = loaded.identity, loaded.info
                if identity != resolved.identity:  # downloaded, or fell back, just now
                    reuse = _reusable(cfg, identity, old, out)
                    todo = [s for s in cfg.sentences if s.slug not in reuse]
                results = _compute(cfg, loaded, todo, workers, staging, options.progress)
            else:
                info = _info(old)
            for s in cfg.sentences:
                if s.slug in reuse:
                    for name, digest in reuse[s.slug]["files"].items():
                        staging.link(f"{s.slug}/{name}", out / reuse[s.slug]["slug"] / name, digest)
            sentences = [{"slug": s.slug, "key": _key(cfg, identity, s.text),
                          "files": {p.split("/", 1)[1]: h for p, h in staging.hashes.items()
                                    if p.startswith(s.slug + "/")}} for s in cfg.sentences]
            pages = {relpath: staging.write(relpath, content)
                     for relpath, content in _pages(prepared or _gallery(cfg, info, reuse, results, out))}
            manifest = {"tool": output.TOOL, "version": output.VERSION, "model": {**asdict(info), "identity": identity},
                        "sentences": sentences, "pages": pages, "hashes": hashes.used, "extra": {}}
            staging.write(names.MANIFEST, json.dumps(manifest, indent=1))
            size = output.folder_bytes(staging.path)
            staging.swap()
    images = sum(len(r.heads) + 1 for r in results.values())
    return Summary(len(cfg.sentences), len(results), images, time.time() - start, out / names.PAGE, info, size)


def _key(cfg: Config, identity: str, text: str) -> str:
    from .render import RENDER_VERSION
    return cache.result_key(identity, text, cfg.top_k, cfg.colormap, (RENDER_VERSION,))


def _reusable(cfg: Config, identity: str, old: dict, out: Path) -> dict[str, dict]:
    """slug -> the previous build's entry whose results this sentence can take over (its key matches and its
    files are whole and unmodified), wherever in the old site they are."""
    if not identity or not old:
        return {}
    by_key = {}
    for entry in old["sentences"]:
        if entry["key"] not in by_key and cache.verified(out / entry["slug"], entry["files"]):
            by_key[entry["key"]] = entry
    return {s.slug: by_key[k] for s in cfg.sentences if (k := _key(cfg, identity, s.text)) in by_key}


def _info(old: dict) -> model.ModelInfo:
    return model.ModelInfo(**{k: v for k, v in old["model"].items() if k != "identity"})


def _compute(cfg: Config, loaded, todo: list, workers, staging: output.Staging, progress: bool) -> dict:
    """Model run, pictures, statistics and data files of each sentence in `todo`, written as they come, so
    memory stays flat however many sentences there are. Returns their results, without the attention."""
    from tqdm import tqdm

    from . import render
    tok = loaded.tokenizer
    results = {}
    numbers = {s.slug: i for i, s in enumerate(cfg.sentences, start=1)}
    # the bar only on a terminal (None): logs and pipes get just the summary line
    for s in tqdm(todo, desc="sentences", unit="sentence", disable=None if progress else True, file=sys.stderr,
                  leave=False):
        run = model.predict(loaded, s.text, cfg.top_k, culprit=f"{cfg.path}:{s.line}: sentence {numbers[s.slug]} ")
        pending = workers.heads(run.attention, run.tokens, cfg.colormap)
        lay = render.layout(run.tokens)
        layers, per_layer = run.attention.shape[:2]
        result = Result(s.text, run.tokens, run.masks, run.filled,
                        heads.analyse(run.attention, run.tokens, tok.cls_token, tok.sep_token), layers, per_layer,
                        run.special, (lay.width, lay.height), render.overview_size(layers, per_layer), run.attention)
        staging.write(f"{s.slug}/{names.OVERVIEW}", render.render_overview(run.attention, cfg.colormap))
        staging.write(f"{s.slug}/{names.VIEW_DATA}", site.view_data(result, cfg.colormap))
        staging.write(f"{s.slug}/{names.DATA}", json.dumps(result.to_json(loaded.info), ensure_ascii=False,
                                                           separators=(",", ":")))
        for name, png in pending.get():
            staging.write(f"{s.slug}/{name}", png)
        result.attention = None
        results[s.slug] = result
    return results


def _gallery(cfg: Config, info, reuse: dict, results: dict, out: Path) -> tuple[site.Gallery, bytes]:
    """The site's view of every sentence (computed now, or read back from the previous data.json), and the
    per-layer plot of their statistics."""
    from . import render
    entries = []
    totals = None
    for number, s in enumerate(cfg.sentences, start=1):
        result = results.get(s.slug) or Result.from_json(
            json.loads((out / reuse[s.slug]["slug"] / names.DATA).read_text(encoding="utf-8")))
        totals = totals or heads.Totals.empty(result.layers, result.heads_per_layer)
        totals.add(result.values(), len(result.tokens))
        entries.append(site.Entry(s.slug, s.title or f"Sentence {number}", s.note, result))
    plot = render.render_layer_plot(heads.per_layer(totals, site.LAYER_PLOT_KEYS), site.LAYER_PLOT_SIZE)
    return site.Gallery(entries, info, cfg.path.name, cfg.colormap, totals), plot


def _pages(prepared: tuple[site.Gallery, bytes]):
    """Every file that is rewritten on each build: the pages, static files and the per-layer plot."""
    gallery, plot = prepared
    yield from site.pages(gallery)
    yield f"{names.HEADS}/{names.LAYER_PLOT}", plot


def _unchanged(cfg: Config, old: dict, reuse: dict, prepared, out: Path) -> bool:
    """Whether the site on disk is exactly what this build would write: same folders, same pages."""
    if any(reuse[s.slug]["slug"] != s.slug for s in cfg.sentences) or len(old["sentences"]) != len(cfg.sentences):
        return False
    pages = {relpath: cache.sha256_bytes(c.encode() if isinstance(c, str) else c) for relpath, c in _pages(prepared)}
    expected = set(pages) | {names.MANIFEST} | {f"{e['slug']}/{n}" for e in old["sentences"] for n in e["files"]}
    return pages == old["pages"] and output.listing(out) == expected \
        and all(cache.regular_file(out / p) and cache.sha256_file(out / p) == h for p, h in pages.items())
