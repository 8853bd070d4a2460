"""The pipeline: config -> model run -> render -> analyse -> site, written into a staging folder and swapped in.

A manifest in the output folder keys every sentence on everything that shapes its pages and pictures.
Unchanged sentences are hard-linked from the previous site into the new one, so a rebuild redoes only
what changed, and a rebuild where nothing changed returns before importing torch.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import heads, render, site
from .config import Config, ConfigError
from .site import ModelInfo, Page, PageMask

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: data.json holds each head's strongest pairs, not alt texts
THUMB_WIDTH = 96


@dataclass
class Summary:
    sentences: int
    rebuilt: int
    images: int
    seconds: float
    index: Path
    model: ModelInfo | None
    bytes: int | None = None  # the whole site's size; None when nothing was rebuilt


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:20]


def sentence_keys(cfg: Config, model_identity: str) -> dict[str, str]:
    """slug -> key over everything that shapes that sentence's folder (its neighbours' links included)."""
    versions = (render.RENDER_VERSION, site.template_version())
    keys = {}
    for i, s in enumerate(cfg.sentences):
        prev = cfg.sentences[i - 1].slug if i else ""
        nxt = cfg.sentences[i + 1].slug if i + 1 < len(cfg.sentences) else ""
        keys[s.slug] = _key(cfg.model, model_identity, s.text, s.title, s.note, cfg.top_k, cfg.colormap,
                            prev, nxt, i, versions, cfg.path.name)
    return keys


def read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return data if data.get("version") == MANIFEST_VERSION else {}
    except (OSError, ValueError):
        return {}


def check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} is a file, not a folder")
    parent = out.parent
    if not parent.is_dir():
        raise ConfigError(f"output path {out}: {parent} is not an existing folder")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"output path {out}: cannot write in {parent}")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise ConfigError(f"output folder {out} already holds files this tool did not make; "
                          "choose an empty or new folder with --out")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    except (OSError, AttributeError):
        return False


def _swap(staging: Path, out: Path) -> None:
    """Put the finished staging folder where the site is. On Linux the two trade places atomically, so at
    every moment `out` is a complete site; elsewhere two renames, and a crash between them is repaired by
    the next build (_cleanup_leftovers)."""
    if out.exists() and _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous site
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _cleanup_leftovers(out: Path) -> None:
    """Folders an interrupted build left beside the output: an unfinished staging folder goes; an old site
    whose replacement never arrived is put back."""
    for leftover in out.parent.glob(f".{out.name}.*-*"):
        if ".old-" in leftover.name and not out.exists():
            os.rename(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _thumb(size: tuple[int, int]) -> tuple[int, int]:
    return THUMB_WIDTH, round(THUMB_WIDTH * size[1] / size[0])


def build(cfg: Config, out: Path, fallback: bool = True, force: bool = False, allow_pickle: bool = False,
          progress: bool = True) -> Summary:
    from . import model as model_stage  # no torch here: model.py imports it only when loading

    start = time.time()
    out = Path(out).absolute()
    check_output(out)
    _cleanup_leftovers(out)
    identity = model_stage.identity(cfg.model)
    keys = sentence_keys(cfg, identity)
    old = {} if force else read_manifest(out)
    old_keys = old.get("sentences", {})
    todo = [s for s in cfg.sentences if old_keys.get(s.slug) != keys[s.slug] or not (out / s.slug).is_dir()]
    index_key = _key(keys)  # every key already holds the template version
    if not todo and old.get("index") == index_key and (out / "index.html").exists():
        return Summary(len(cfg.sentences), 0, 0, time.time() - start, out / "index.html",
                       ModelInfo(**old["model"]) if old.get("model") else None)

    staging = out.parent / f".{out.name}.building-{os.getpid()}"
    staging.mkdir()
    try:
        info, images = _build_into(staging, out, cfg, todo, fallback, allow_pickle, progress, old)
        manifest = {"version": MANIFEST_VERSION, "sentences": keys, "index": index_key,
                    "model": asdict(info)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        size = folder_bytes(staging)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Summary(len(cfg.sentences), len(todo), images, time.time() - start, out / "index.html", info, size)


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`, hard links counted each time (as a published copy stores them)."""
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.stat(os.path.join(root, f)).st_size for f in files)
    return total


def _build_into(staging: Path, out: Path, cfg: Config, todo: list, fallback: bool, allow_pickle: bool,
                progress: bool, old: dict) -> tuple[ModelInfo, int]:
    from tqdm import tqdm

    info = ModelInfo(**old["model"]) if old.get("model") and len(todo) < len(cfg.sentences) else None
    redo = {s.slug for s in todo}
    pages: list[Page] = []
    images = 0
    loaded = pool = None
    try:
        if todo:
            pool = _pool()
            loaded = _load(cfg, fallback, allow_pickle)
            info = loaded.info
        # the bar only on a terminal (None): logs and pipes get just the summary line
        bar = tqdm(cfg.sentences, desc="sentences", unit="sentence", disable=None if progress else True,
                   file=sys.stderr, leave=False)
        for number, s in enumerate(bar, start=1):
            folder = staging / s.slug
            if s.slug not in redo:  # unchanged: the previous build's files, hard-linked
                shutil.copytree(out / s.slug, folder, copy_function=_link_or_copy)
                pages.append(site.read_page(folder, s, number))
                continue
            page, written = _sentence(loaded, cfg, number, folder, pool)
            images += written
            pages.append(page)
    finally:
        if pool is not None:  # idle after a finished map; on an interrupt, stop them writing into staging
            pool.terminate()
            pool.join()
    site.write_index(staging, pages, info, cfg.path.name)
    means = heads.gallery_means([p.heads for p in pages])
    site.write_heads_pages(staging, pages, means, info, cfg.path.name,
                           render.render_layer_plot(heads.per_layer(means, ("cls", "sep", "punct"))))
    return info, images


def _sentence(loaded, cfg: Config, number: int, folder: Path, pool) -> tuple[Page, int]:
    """Model run, pictures, statistics, data.json and page of one sentence. Returns its page, without the
    attention, so memory stays flat however many sentences there are; and how many images it wrote."""
    from .model import analyse

    s = cfg.sentences[number - 1]
    result = analyse(loaded, s.text, cfg.top_k, culprit=f"{cfg.path}:{s.line}: sentence {number} ")
    folder.mkdir()
    heads_done = render.render_heads_async(result.attention, result.tokens, cfg.colormap, str(folder), pool)
    (folder / "overview.png").write_bytes(render.render_overview(result.attention, cfg.colormap))
    tok = loaded.tokenizer
    stats = heads.analyse(result.attention, result.tokens, tok.cls_token, tok.sep_token)
    masks = [PageMask(m.index, m.predictions) for m in result.masks]
    page = Page(s.slug, site.page_title(s, number), s.text, s.note, masks, result.filled, result.tokens,
                [h.as_dict() for h in stats])
    special = [i for i, t in enumerate(result.tokens) if t in (tok.cls_token, tok.sep_token)]
    page.interactive = site.interactive_data(result.attention, result.tokens, special, cfg.colormap)
    site.write_data(folder, page, loaded.info)
    lay = render.layout(result.tokens)
    neighbours = cfg.sentences[number - 2] if number > 1 else None, \
        cfg.sentences[number] if number < len(cfg.sentences) else None
    site.write_sentence_page(folder, page, loaded.info, cfg.path.name, *neighbours,
                             _thumb((lay.width, lay.height)), render.overview_size(*result.attention.shape[:2]),
                             cfg.colormap)
    page.interactive = ""
    return page, len(heads_done()) + 1


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _pool():
    """Worker processes for rendering, forked before torch starts its threads."""
    n = min(os.cpu_count() or 1, 4)
    return multiprocessing.get_context("fork").Pool(n, _die_with_parent, (os.getpid(),)) if n > 1 else None


def _die_with_parent(parent: int) -> None:
    """A worker ends when the build does, even on kill -9: an orphan would go on writing into the staging
    folder while the next build cleans it up (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the build died before prctl took effect
        os._exit(1)


def _load(cfg: Config, fallback: bool, allow_pickle: bool):
    from .model import load
    return load(cfg.model, fallback=fallback, allow_pickle=allow_pickle)
