"""What value norms and contributions (bertgallery/mixing.py) cost, and what they show: python bench/mixing.py

In this process:
0. the build's per-sentence work (measure.sentence, everything a sentence folder holds) with mixing on and off,
   for each sentence one after the other, on a BERT-base-shaped model and 12-token sentences: the median of
   the per-sentence ratios of wall-clock and CPU time, with every picture drawn in this process (its CPU time
   is then the whole work) and with the build's render workers (--only build);
1. cost, on a BERT-base-shaped model (BertConfig() defaults, random weights: the speed does not depend on
   them) and 12-token sentences with one [MASK], per sentence after a warm-up, median of --sentences: the
   build's work today (the forward pass of model.predict; attribution.explain, i.e. gradient importance and
   rollout; the 144 head PNGs, the overview and the rollout picture) and what mixing adds (the forward pass
   with mixing.FLAGS instead of without; mixing.compute; value_weighted; cls_norm and sep_norm; the
   contribution rollout), as the median of each sentence's own ratio;
2. peak memory of mixing.compute on one --long-token sentence (default 512) on the same model: the
   process's peak resident memory above what it held before (VmHWM reset through /proc/self/clear_refs), and
   its time against the forward pass and gradient importance of that sentence;
3. on the real all-MiniLM-L6-v2 encoder (offline.base_model(): the pip-installed weights) and on the shipped
   offline model (offline.load(): the encoder fine-tuned by models/train_offline.py), over the sentences of
   sentences.yaml and the first 200 sentences of corpus.txt: the share on [CLS]/[SEP] per layer by
   attention weights, by value-weighted attention and by contributions; and, for the offline model at the
   masks of sentences.yaml, the raw rollout against the contribution rollout after the last layer;
4. with --only site [--site FOLDER], what a built gallery shows, read back from its files: the heads page's
   share on [CLS]/[SEP] by layer by weights and by value norms, the same with contributions over its
   sentences' view data, and its masks' raw against contribution rollout (the README's numbers).
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import attribution, config, mixing, model, names, offline, plots, render  # noqa: E402
from bench import WORDS, make_model  # noqa: E402


def sentence(i: int, words: int = 10) -> str:
    """`words` words, one of them [MASK]; every word here is one WordPiece, so words + 2 tokens."""
    chosen = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(words)]
    chosen[words // 2] = "[MASK]"
    return " ".join(chosen)


def timed(fn):
    """fn's result, wall-clock seconds and this process's CPU seconds."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - start_cpu


def new_quantities(net, out, attention, tokens, cls_token, sep_token) -> None:
    """What a sentence gains: everything issue 25 puts on its page, from the pass's hidden states."""
    (mixed,) = mixing.compute(net, out.hidden_states, out.attentions)
    vw = mixing.value_weighted(attention, mixed.norms)
    mixing.cls_norm(vw, np.array([t == cls_token for t in tokens]))
    mixing.sep_norm(vw, np.array([t == sep_token for t in tokens]))
    mixing.contribution_rollout(mixed.contributions)


def bench_cost(loaded, workers, n: int) -> None:
    import torch
    net, tok = loaded.net, loaded.tokenizer
    wall, cpu = [], []  # per sentence: forward, importance, pictures, the flags' extra, mixing
    for i in range(n + 1):  # sentence 0 warms up fonts, workers and torch
        text = sentence(i)
        run, *forward = timed(lambda: model.predict(loaded, text, top_k=5))
        _, *importance = timed(lambda: attribution.explain(net, run, "gradient"))

        def pictures():
            pending = workers.heads(run.attention, run.tokens, "viridis")
            render.render_overview(run.attention, "viridis")
            plots.render_rollout([m.rollout for m in run.masks], run.tokens, ["The mask"], "viridis")
            assert len(pending.get()) == 144
        _, *drawing = timed(pictures)
        with torch.no_grad():
            _, *plain = timed(lambda: net(**run.inputs, output_attentions=True))
            out, *flagged = timed(lambda: net(**run.inputs, **mixing.FLAGS))
        _, *mixed = timed(lambda: new_quantities(net, out, run.attention, run.tokens, tok.cls_token,
                                                      tok.sep_token))
        if i:
            for k, kept in enumerate((wall, cpu)):
                kept.append((forward[k], importance[k], drawing[k], flagged[k] - plain[k], mixed[k]))
    med = lambda a: statistics.median(a.tolist())  # noqa: E731
    print(f"1. BERT-base shape, 12-token sentences, median of {n} ({workers.processes} render workers, "
          f"{torch.get_num_threads()} torch threads)")
    for name, rows in (("wall-clock", wall), ("CPU time of this process", cpu)):
        forward, importance, drawing, flags, mixing_s = (np.array(c) for c in zip(*rows))
        added = mixing_s + np.maximum(flags, 0)
        print(f"   {name}: forward pass {med(forward) * 1000:.1f} ms, gradient importance + rollout "
              f"{med(importance) * 1000:.1f} ms, 144 PNGs + overview + rollout picture {med(drawing) * 1000:.1f} ms"
              f"{' (the PNGs are drawn by the workers: not counted here)' if rows is cpu else ''}")
        print(f"   {name}: added, the forward pass with hidden states {med(flags) * 1000:+.2f} ms and mixing "
              f"{med(mixing_s) * 1000:.1f} ms: {med(added / (forward + importance)):+.1%} of forward + importance"
              + ("" if rows is cpu else f", {med(added / (forward + importance + drawing)):+.1%} of the build's "
                                        f"per-sentence work with the pictures (target: at most +20 %)"))


@contextlib.contextmanager
def mixing_off():
    """The build as it was before issue 25, as for a family without mixing: the forward pass without hidden
    states, no value norms or contributions, so no cls_norm/sep_norm, lens data or contribution panels."""
    flags, reason = mixing.FLAGS, mixing.reason_unsupported
    mixing.FLAGS, mixing.reason_unsupported = {"output_attentions": True}, lambda net: "off for the benchmark"
    try:
        yield
    finally:
        mixing.FLAGS, mixing.reason_unsupported = flags, reason


def bench_build(loaded, n: int) -> None:
    """The build's whole work for one sentence (measure.sentence: the model run, importance and rollout, mixing,
    the statistics and syntax, the view data and data.json, the parse, every picture), with mixing on and off,
    one after the other for each sentence (which goes first alternates), median of the per-sentence ratios."""
    from bertgallery import measure
    print(f"0. the build's per-sentence work (measure.sentence), BERT-base shape, 12-token sentences, mixing on "
          f"against off, median of {n}")
    for workers_on in (False, True):
        ratios = {"wall-clock": [], "CPU time of this process": []}
        seconds = {True: [], False: []}
        with render.Workers(enabled=workers_on) as workers:
            for i in range(n + 1):  # sentence 0 warms up
                text = sentence(i)
                took = {}
                for on in ((True, False) if i % 2 else (False, True)):
                    with contextlib.nullcontext() if on else mixing_off():
                        (found, files), *took[on] = timed(lambda: measure.sentence(
                            loaded, text, 5, "viridis", "gradient", workers))
                    assert (found.mixing is not None) == on and names.ROLLOUT in files
                if i:
                    for k, name in enumerate(ratios):
                        ratios[name].append(took[True][k] / took[False][k])
                    seconds[True].append(took[True][1])
                    seconds[False].append(took[False][1])
        where = f"the PNGs drawn by {workers.processes} render workers (their CPU not counted)" if workers_on else \
            "every picture drawn in this process (so its CPU time is the whole work)"
        print(f"   {where}: CPU seconds a sentence, median, off {statistics.median(seconds[False]):.2f} s, on "
              f"{statistics.median(seconds[True]):.2f} s")
        for name, values in ratios.items():
            print(f"   {name}: mixing on / off {statistics.median(values):.3f} (median of {n}; "
                  f"{min(values):.3f}–{max(values):.3f}; target at most 1.20)")


def _status(field: str) -> int:
    """A field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> int:
    """Give freed memory back, restart the peak resident memory count; returns resident memory now."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def bench_memory(loaded, long: int) -> None:
    import torch
    net = loaded.net
    text = " ".join(WORDS[(j * 5) % len(WORDS)] for j in range(long - 3)) + " [MASK]"
    inputs = loaded.tokenizer(text, return_tensors="pt")
    t = inputs["input_ids"].shape[1]
    before = _reset_peak()
    with torch.no_grad():
        out, *forward = timed(lambda: net(**inputs, **mixing.FLAGS))
    forward_peak = _status("VmHWM") - before
    _, *importance = timed(lambda: attribution.head_importance(net, inputs, [t - 2]))
    before = _reset_peak()
    (mixed,), *took = timed(lambda: mixing.compute(net, out.hidden_states, out.attentions))
    peak = _status("VmHWM") - before
    d = net.config.hidden_size
    print(f"2. one {t}-token sentence, BERT-base shape: mixing.compute adds {peak / 2 ** 20:.0f} MB of peak "
          f"resident memory (target: at most 1 GB; the forward pass with hidden states and attentions adds "
          f"{forward_peak / 2 ** 20:.0f} MB; T x T x d at once would be {t * t * d * 8 / 2 ** 30:.1f} GB a layer "
          f"in float64); its results hold {(mixed.norms.nbytes + mixed.contributions.nbytes) / 2 ** 20:.0f} MB")
    for k, name in enumerate(("wall-clock", "CPU time of this process")):
        print(f"   {name}: mixing.compute {took[k]:.1f} s, the forward pass {forward[k]:.1f} s, gradient "
              f"importance {importance[k]:.1f} s")


def _batches(tok, texts: list[str], size: int = 32):
    for first in range(0, len(texts), size):
        yield tok(texts[first:first + size], padding=True, return_tensors="pt")


def special_shares(net, tok, texts: list[str]) -> np.ndarray:
    """[3, layers]: the mean over sentences of the share on [CLS]/[SEP] (mean over heads and rows) by
    weights, value-weighted attention and contributions. Padded batches of 32."""
    import torch
    per_sentence = []
    for enc in _batches(tok, texts):
        with torch.no_grad():
            out = net(**enc, **mixing.FLAGS)
        mixed = mixing.compute(net, out.hidden_states, out.attentions, enc["attention_mask"])
        attention = torch.stack(out.attentions, dim=1).double().numpy()
        for row, m in enumerate(mixed):
            at = enc["attention_mask"][row].bool().numpy()
            ids = enc["input_ids"][row][at].numpy()
            cls, sep = ids == tok.cls_token_id, ids == tok.sep_token_id
            a = attention[row][:, :, at][..., at]  # this sentence's own tokens, as the corpus pass cuts them
            vw = mixing.value_weighted(a, m.norms)
            per_sentence.append([a[..., cls | sep].sum(-1).mean(-1).mean(-1),  # heads' cls + sep, over heads
                                 np.nanmean(mixing.cls_norm(vw, cls) + mixing.sep_norm(vw, sep), axis=-1),
                                 m.contributions[..., cls | sep].sum(-1).mean(-1)])
    return np.array(per_sentence).mean(axis=0)


def print_shares(name: str, shares: np.ndarray, n: int) -> None:
    print(f"   {name}, {n} sentences: share on [CLS]/[SEP] by layer")
    print("   lens           | " + " | ".join(f"L{l + 1}" for l in range(shares.shape[1])) + " | range")
    for lens, row in zip(("weights", "value-weighted", "contributions"), shares):
        print(f"   {lens:<14} | " + " | ".join(f"{v:.2f}" for v in row) + f" | {row.min():.2f}–{row.max():.2f}")


def mask_rollouts(net, tok, texts: list[str]) -> None:
    import torch
    print("   the offline model at the masks of sentences.yaml, after the last layer: raw rollout | "
          "contribution rollout")
    print("   sentence, mask | [CLS] | [SEP] | its own position | the largest other word | words on average")
    rows = []
    for text in texts:
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            out = net(**enc, **mixing.FLAGS)
        ids = enc["input_ids"][0].tolist()
        (mixed,) = mixing.compute(net, out.hidden_states, out.attentions)
        raw = attribution.rollout(torch.stack(out.attentions)[:, 0].numpy())[-1]
        ours = mixing.contribution_rollout(mixed.contributions)[-1]
        cls = [k for k, i in enumerate(ids) if i == tok.cls_token_id]
        sep = [k for k, i in enumerate(ids) if i == tok.sep_token_id]
        for number, m in enumerate(k for k, i in enumerate(ids) if i == tok.mask_token_id):
            words = [k for k in range(len(ids)) if k not in cls + sep + [m]]
            row, top = [], []
            for r in (raw, ours):
                row.append((r[m, cls].sum(), r[m, sep].sum(), r[m, m], r[m, words].max(), r[m, words].mean()))
                top.append(tok.convert_ids_to_tokens(ids[words[int(np.argmax(r[m, words]))]]))
            rows.append(row)
            cells = [f"{a:.2f} / {b:.2f}" for a, b in zip(*row)]
            cells[3] += f" ({top[0]} / {top[1]})"
            print(f"   {text[:38]:<38} {number + 1} | {' | '.join(cells)}")
    rows = np.array(rows)  # [masks, 2, 5]
    for k, name in enumerate(("[CLS]", "[SEP]", "own position", "largest other word", "word on average")):
        print(f"   {name}: raw {rows[:, 0, k].min():.2f}–{rows[:, 0, k].max():.2f}, "
              f"contributions {rows[:, 1, k].min():.2f}–{rows[:, 1, k].max():.2f}")


def bench_minilm(corpus_sentences: int) -> None:
    import torch
    from transformers import AutoTokenizer
    texts = [s.text for s in config.load(ROOT / "sentences.yaml").sentences]
    corpus = [line.text for line in config.read_corpus(ROOT / "corpus.txt", "corpus.txt")[:corpus_sentences]]
    print(f"3. sentences.yaml ({len(texts)}) and the first {len(corpus)} sentences of corpus.txt")
    tok = AutoTokenizer.from_pretrained(offline.encoder_dir())
    with torch.random.fork_rng():
        encoder = offline.base_model().eval()
    print_shares("all-MiniLM-L6-v2 encoder", special_shares(encoder, tok, texts + corpus), len(texts + corpus))
    tok, shipped = offline.load()
    print_shares("offline model", special_shares(shipped, tok, texts + corpus), len(texts + corpus))
    mask_rollouts(shipped, tok, texts)


def _view(path: Path) -> dict:
    """A sentence's view-data.js, with its arrays decoded (weights, norms ÷ each head's largest, contributions)."""
    import base64
    import json
    text = path.read_text(encoding="utf-8")
    view = json.loads(text[text.index("(", text.index("push")) + 1:text.rindex(")")])
    L, H, T = view["layers"], view["heads"], len(view["tokens"])

    def arr(field, shape):
        return np.frombuffer(base64.b64decode(view[field]), dtype="<u2").astype(float).reshape(shape) / 10000
    view["attention"] = arr("attention", (L, H, T, T))
    view["norms"] = arr("norms", (L, H, T))
    view["contributions"] = arr("contributions", (L, T, T))
    return view


def bench_site(folder: Path) -> None:
    """What a built gallery shows (README, "Value norms and contributions"): from its own files, nothing run
    again. The heads page's per-layer means (the gallery's sentences and its corpus) by weights and by value
    norms; over the sentences' view data, the same and the contributions; each mask's two rollouts."""
    import json
    from bertgallery import heads, names
    from bertgallery.records import Result
    manifest = json.loads((folder / names.MANIFEST).read_text())
    slugs = [s["slug"] for s in manifest["sentences"]]
    results = [Result.from_json(json.loads((folder / slug / names.DATA).read_text())) for slug in slugs]
    totals = heads.Totals.empty(results[0].layers, results[0].heads_per_layer)
    for r in results:
        totals.add(r.values(), len(r.tokens))
    corpus = folder / names.HEADS / names.CORPUS
    if corpus.is_file():
        totals = totals.merge(heads.Totals.from_json(json.loads(corpus.read_text())["totals"]))
    means = heads.per_layer(totals, ("cls", "sep", "cls_norm", "sep_norm"))
    print(f"4. the built gallery {folder} ({len(results)} sentences, {totals.sentences} with its corpus)")
    print_shares("the heads page (no contributions there)",
                 np.array([means[:, 0] + means[:, 1], means[:, 2] + means[:, 3]]), totals.sentences)
    per_sentence = []
    for slug in slugs:
        v = _view(folder / slug / names.VIEW_DATA)
        special = np.zeros(len(v["tokens"]), dtype=bool)
        special[v["special"]] = True
        vw = mixing.value_weighted(v["attention"], v["norms"])
        per_sentence.append([v["attention"][..., special].sum(-1).mean(-1).mean(-1),
                             vw[..., special].sum(-1).mean(-1).mean(-1),
                             v["contributions"][..., special].sum(-1).mean(-1)])
    print_shares("its sentences' view data", np.array(per_sentence).mean(axis=0), len(slugs))
    rows = []
    for r in results:
        special = set(r.special)
        for m in r.masks:
            words = [k for k in range(len(r.tokens)) if k not in special and k != m.index]
            cls = [k for k in r.special if r.tokens[k] == r.tokens[0]]
            sep = [k for k in r.special if k not in cls]
            rows.append([(f[-1][cls].sum(), f[-1][sep].sum(), f[-1][m.index], f[-1][words].max(), f[-1][words].mean())
                         for f in (np.asarray(m.rollout), np.asarray(m.contribution_rollout))])
    rows = np.array(rows)
    print(f"   its {len(rows)} masks after the last layer: raw rollout | contribution rollout")
    for k, name in enumerate(("[CLS]", "[SEP]", "own position", "largest other word", "word on average")):
        print(f"   {name}: raw {rows[:, 0, k].min():.2f}–{rows[:, 0, k].max():.2f}, "
              f"contributions {rows[:, 1, k].min():.2f}–{rows[:, 1, k].max():.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--long", type=int, default=512)
    ap.add_argument("--corpus", type=int, default=200)
    ap.add_argument("--only", choices=("build", "cost", "memory", "minilm", "site"))
    ap.add_argument("--site", type=Path, default=ROOT / "site", help="a built gallery, for --only site")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own choice, as a build has)")
    args = ap.parse_args()
    model.quiet()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.only in (None, "build", "cost", "memory"):
        with tempfile.TemporaryDirectory() as tmp:
            loaded = model.load(str(make_model(Path(tmp) / "model")), fallback=False, device="cpu")
            if args.only in (None, "build"):
                bench_build(loaded, args.sentences)
            if args.only in (None, "cost"):
                with render.Workers() as workers:
                    bench_cost(loaded, workers, args.sentences)
            if args.only in (None, "memory"):
                bench_memory(loaded, args.long)
    if args.only in (None, "minilm"):
        bench_minilm(args.corpus)
    if args.only == "site":
        bench_site(args.site)


if __name__ == "__main__":
    main()
