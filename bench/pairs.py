"""What the offline model does with sentence pairs (issue 26; docs/pairs.md holds a run's output).

    python bench/pairs.py [--model offline]

Its masked-word training (models/train_offline.py) fed it single sentences, so segment B's token type 1 is what
MiniLM's pre-training left. On hand-written pairs whose first segment decides the masked word of the second
(the target), each read four ways: as a pair ([CLS] A [SEP] B [SEP], token types 0 and 1), as the pair with
every token type 0, as one sentence (A B), and B alone. Printed: the mean log-probability of the target and
how often it is the top guess, each way; then the heads' `cross` statistic (heads.py) on the pairs, per layer,
against what a head that attends to every token alike would get, and the heads that earn its tag.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (A, B with one [MASK], the target word)
PAIRS = [
    ("John gave Mary a book.", "[MASK] thanked him for it.", "she"),
    ("Mary gave John a book.", "[MASK] thanked her for it.", "he"),
    ("What do cows drink?", "Cows drink [MASK].", "milk"),
    ("What colour is the sky?", "The sky is [MASK].", "blue"),
    ("The boy lost his dog.", "[MASK] looked for it all day.", "he"),
    ("The girl lost her cat.", "[MASK] looked for it all day.", "she"),
    ("My brother bought a new car.", "[MASK] drives it to work.", "he"),
    ("My sister bought a new bike.", "[MASK] rides it to school.", "she"),
    ("The children played in the snow.", "[MASK] built a snowman.", "they"),
    ("Where do fish live?", "Fish live in the [MASK].", "water"),
    ("What do bees make?", "Bees make [MASK].", "honey"),
    ("What do you sleep in?", "I sleep in a [MASK].", "bed"),
    ("He planted tomatoes in the garden.", "The [MASK] grew quickly.", "tomatoes"),
    ("She baked a cake for the party.", "Everyone liked the [MASK].", "cake"),
    ("We adopted a puppy last week.", "The [MASK] sleeps all day.", "puppy"),
    ("The teacher wrote on the board.", "The students copied what [MASK] wrote.", "she"),
    ("Tom broke the window.", "His mother was angry with [MASK].", "him"),
    ("Anna won the race.", "Everyone congratulated [MASK].", "her"),
    ("What do you drink in the morning?", "I drink [MASK] every morning.", "coffee"),
    ("Which animal barks?", "A [MASK] barks.", "dog"),
    ("The old man sat on the bench.", "[MASK] fed the pigeons.", "he"),
    ("The women sang a song.", "[MASK] sang it beautifully.", "they"),
    ("I lost my keys yesterday.", "I found the [MASK] under the sofa.", "keys"),
    ("It rained all night.", "In the morning the streets were [MASK].", "wet"),
]


def target_logprob(loaded, enc, word: str) -> tuple[float, bool]:
    import torch
    tok = loaded.tokenizer
    with torch.no_grad():
        logits = loaded.net(**enc).logits[0]
    pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0])
    logp = torch.log_softmax(logits[pos].float(), -1)
    wid = tok.convert_tokens_to_ids(word)
    return float(logp[wid]), int(logp.argmax()) == wid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="offline")
    args = ap.parse_args()
    import torch

    from bertgallery import heads, model
    torch.set_num_threads(1)
    loaded = model.load(args.model, fallback=False, device="cpu")
    tok = loaded.tokenizer
    ways = {"pair (types 0/1)": [], "pair, all type 0": [], "one sentence A B": [], "B alone": []}
    crosses, uniform, tagged = [], [], np.zeros((loaded.info.layers, loaded.info.heads), dtype=int)
    for a, b, word in PAIRS:
        masked = b.replace("[MASK]", tok.mask_token)
        pair = tok(a, masked, return_tensors="pt")
        flat = dict(pair, token_type_ids=torch.zeros_like(pair["token_type_ids"]))
        for name, enc in zip(ways, (pair, flat, tok(f"{a} {masked}", return_tensors="pt"),
                                    tok(masked, return_tensors="pt"))):
            ways[name].append(target_logprob(loaded, enc, word))
        run = model.predict(loaded, a, 1, pair=b)
        stats = heads.head_stats(run.attention, run.tokens, tok.cls_token, tok.sep_token, segments=run.segments)
        values = np.array([s["cross"] for s in stats]).reshape(loaded.info.layers, loaded.info.heads)
        crosses.append(values)
        tagged += values >= heads.STATISTICS[heads.INDEX["cross"]].threshold
        seg = np.array(run.segments)
        ordinary = ~np.isin(np.array(run.tokens), [tok.cls_token, tok.sep_token])
        T = len(run.tokens)  # attention 1/T to every token: each token gives the other side's ordinary share
        uniform.append(np.mean([((seg != seg[i]) & ordinary).sum() / T for i in np.flatnonzero(ordinary)]))
    print(f"{loaded.info.name}: {len(PAIRS)} pairs whose first segment decides the masked word of the second")
    print(f"{'read as':<20} {'mean log p(target)':>19} {'top-1 = target':>15}")
    for name, got in ways.items():
        lp, top = zip(*got)
        print(f"{name:<20} {np.mean(lp):>19.2f} {sum(top):>11} / {len(top)}")
    types = loaded.net.get_input_embeddings()  # the type embeddings beside the word embeddings
    emb = loaded.net.base_model.embeddings
    if hasattr(emb, "token_type_embeddings"):
        t = emb.token_type_embeddings.weight.detach()
        words = types.weight.detach().norm(dim=-1)
        print(f"token type embeddings: |e1 - e0| = {float((t[1] - t[0]).norm()):.3f}; a word embedding's length: "
              f"median {float(words.median()):.3f}")
    c = np.stack(crosses)
    print(f"cross, mean over heads and pairs, per layer: "
          + ", ".join(f"L{l + 1} {v:.3f}" for l, v in enumerate(c.mean(axis=(0, 2)))))
    print(f"attending to every token alike would give {np.mean(uniform):.3f}; the largest head mean: "
          f"{c.mean(0).max():.3f} (L{np.unravel_index(c.mean(0).argmax(), c.shape[1:])[0] + 1}"
          f"H{np.unravel_index(c.mean(0).argmax(), c.shape[1:])[1] + 1})")
    top = np.argsort(-tagged, axis=None)[:5]
    print("heads tagged cross-segment (in how many pairs): " + (", ".join(
        f"L{i // c.shape[2] + 1}H{i % c.shape[2] + 1} {tagged.flat[i]}" for i in top if tagged.flat[i]) or "none"))


if __name__ == "__main__":
    main()
