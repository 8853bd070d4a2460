"""What value norms and contributions (bertgallery/mixing.py) cost, and what they show: python bench/mixing.py

In this process:
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
   masks of sentences.yaml, the raw rollout against the contribution rollout after the last layer.
"""
from __future__ import annotations

import argparse
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
from bertgallery import attribution, config, mixing, model, offline, plots, render  # noqa: E402
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--long", type=int, default=512)
    ap.add_argument("--corpus", type=int, default=200)
    ap.add_argument("--only", choices=("cost", "memory", "minilm"))
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own choice, as a build has)")
    args = ap.parse_args()
    model.quiet()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.only in (None, "cost", "memory"):
        with tempfile.TemporaryDirectory() as tmp:
            loaded = model.load(str(make_model(Path(tmp) / "model")), fallback=False, device="cpu")
            if args.only in (None, "cost"):
                with render.Workers() as workers:
                    bench_cost(loaded, workers, args.sentences)
            if args.only in (None, "memory"):
                bench_memory(loaded, args.long)
    if args.only in (None, "minilm"):
        bench_minilm(args.corpus)


if __name__ == "__main__":
    main()
