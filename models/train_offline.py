"""Rebuild models/offline-minilm-mlm.safetensors: teach the all-MiniLM-L6-v2 encoder masked-LM again.

    python models/train_offline.py --steps 1800 --precision fp32 --eval-every 300     # stage 1: 90 min, 2 cores
    python models/train_offline.py --resume --steps 2400 --lr 1e-4 --head-lr 5e-4 --seed 1 --eval-every 300
    python models/attention_drift.py       # drift: per layer, how far the artefact's attention is from MiniLM's

The shipped artefact is stage 1 followed by stage 2 (79 min: a warm restart from stage 1's artefact, with new
batches and masks); the README lists what each stage measured.

1. Corpus: English text with clear licences from Debian packages (fetched with `apt-get download`,
   unpacked with `dpkg -x`, no root install): Jane Austen's six novels (r-cran-janeaustenr, public domain),
   WordNet 3.0 glosses and example sentences (wordnet-base, WordNet licence), fortune cookies (fortunes,
   the non-offensive set). Packed into 128-token sequences; a fixed 2 % is held out.
2. Model: the pip-installed encoder with a new BERT MLM head whose decoder is the frozen word-embedding
   matrix. Every other weight is fine-tuned with BERT's masking (15 %: 80 % [MASK], 10 % random, 10 % kept),
   loss only at the chosen positions (the 30522-way output is most of the cost otherwise).
3. Ship: the change to each encoder matrix as a rank-R SVD in float16, plus the tuned small tensors and
   head, which keeps the artefact under 10 MB. Held-out top-1/top-5 are printed for the full fine-tune and
   for the compressed artefact, which is what users get (scored in float32, as the gallery runs it).
   Training runs under bfloat16 autocast by default: 1.6x faster per step on a CPU with AVX512-BF16.
"""
from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import offline  # noqa: E402
from rdata import r_character_vectors  # noqa: E402  (models/, beside this script)

CACHE = ROOT / "models" / ".corpus"
PACKAGES = ["r-cran-janeaustenr", "wordnet-base", "fortunes"]
# ---------------------------------------------------------------- corpus
def fetch_packages() -> Path:
    root = CACHE / "root"
    if root.is_dir():
        return root
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def austen(root: Path):
    for lines in r_character_vectors(root / "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", errors="replace"):
        para = []
        for line in lines + [""]:
            if line.strip():
                para.append(line.strip())
                continue
            text = " ".join(para)
            para = []
            if len(text.split()) >= 6 and not text.isupper():
                yield text.replace("_", "")


def wordnet(root: Path):
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (root / f"usr/share/wordnet/data.{pos}").read_text("latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            fields, gloss = line.split("|", 1)
            fields = fields.split()
            count = int(fields[3], 16)
            words = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in fields[4:4 + 2 * count:2]]
            parts = [p.strip() for p in gloss.split(";") if p.strip()]
            defs = [p for p in parts if not p.startswith('"')]
            examples = [p.strip('"').strip() for p in parts if p.startswith('"')]
            text = f"{', '.join(words)}: {'; '.join(defs)}."
            text += "".join(f" {e[:1].upper()}{e[1:]}." for e in examples if e)
            yield text


def fortunes(root: Path):
    folder = root / "usr/share/games/fortunes"
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.suffix in (".dat", ".u8") or path.name == "ascii-art":
            continue
        for cookie in path.read_text("utf-8", "replace").split("\n%\n"):
            text = " ".join(cookie.split())
            if len(text.split()) >= 4:
                yield text


def build_chunks(tokenizer, length: int) -> torch.Tensor:
    """Token ids packed into [N, length] sequences of [CLS] ... [SEP], one source per sequence."""
    cached = CACHE / f"chunks-{length}.pt"
    if cached.is_file():
        return torch.load(cached)
    root = fetch_packages()
    rows = []
    for name, docs in (("austen", austen), ("wordnet", wordnet), ("fortunes", fortunes)):
        texts = list(docs(root))
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        flat = [t for doc in ids for t in doc]
        body = length - 2
        n = len(flat) // body
        print(f"corpus {name}: {len(texts)} documents, {len(flat)} tokens, {n} sequences", flush=True)
        for i in range(n):
            rows.append([tokenizer.cls_token_id, *flat[i * body:(i + 1) * body], tokenizer.sep_token_id])
    chunks = torch.tensor(rows, dtype=torch.long)
    torch.save(chunks, cached)
    return chunks


# ---------------------------------------------------------------- masking and scoring
def mask_batch(ids: torch.Tensor, tokenizer, gen: torch.Generator, train: bool):
    """BERT masking. Returns (inputs, positions [K, 2], targets [K])."""
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    chosen = (torch.rand(ids.shape, generator=gen) < 0.15) & ~special
    inputs = ids.clone()
    if train:
        roll = torch.rand(ids.shape, generator=gen)
        inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
        rand = chosen & (roll >= 0.8) & (roll < 0.9)
        inputs[rand] = torch.randint(999, len(tokenizer), (int(rand.sum()),), generator=gen)
    else:
        inputs[chosen] = tokenizer.mask_token_id
    return inputs, chosen.nonzero(), ids[chosen]


def masked_logits(model, inputs, positions, bf16: bool = False):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = model.bert(input_ids=inputs).last_hidden_state
        logits = model.cls(hidden[positions[:, 0], positions[:, 1]])
    return logits.float()


@torch.no_grad()
def evaluate(model, tokenizer, held_out: torch.Tensor, batch: int = 64):
    model.eval()
    gen = torch.Generator().manual_seed(1234)  # the same masks every time
    top1 = top5 = total = 0
    for i in range(0, len(held_out), batch):
        inputs, pos, targets = mask_batch(held_out[i:i + batch], tokenizer, gen, train=False)
        best = masked_logits(model, inputs, pos).topk(5, dim=-1).indices
        top1 += (best[:, 0] == targets).sum().item()
        top5 += (best == targets[:, None]).any(-1).sum().item()
        total += len(targets)
    model.train()
    return top1 / total, top5 / total, total


@torch.no_grad()
def everyday(model, tokenizer) -> int:
    """How many of the kept-aside everyday sentences get a fitting word in the top 5 (each one printed)."""
    model.eval()
    rows = offline.everyday_sentences()
    hits = 0
    for text, fitting in rows:
        enc = tokenizer(text, return_tensors="pt")
        logits = model(**enc).logits[0]
        at = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0]
        words = tokenizer.convert_ids_to_tokens(logits[at].topk(5).indices.tolist())
        hit = bool(fitting & set(words))
        hits += hit
        print(f"  {'+' if hit else '-'} {text}  ->  {', '.join(words)}", flush=True)
    print(f"everyday sentences with a fitting word in the top 5: {hits}/{len(rows)}", flush=True)
    model.train()
    return hits


def score(tensors: dict, tokenizer, held_out, label: str):
    """The artefact as users get it (the pip-installed encoder plus `tensors`): held-out and everyday scores."""
    shipped = offline.base_model(attn_implementation="sdpa")
    offline.apply(shipped, tensors)
    t1, t5, n = evaluate(shipped, tokenizer, held_out)
    print(f"held-out, {label}: top-1 {t1:.1%}  top-5 {t5:.1%} ({n} masked tokens)", flush=True)
    everyday(shipped, tokenizer)
    return t1, t5, n


# ---------------------------------------------------------------- training
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (default 32)")
    ap.add_argument("--length", type=int, default=128, help="tokens per sequence (default 128)")
    ap.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of the encoder")
    ap.add_argument("--head-lr", type=float, default=1e-3, help="peak learning rate of the new head")
    ap.add_argument("--rank", type=int, default=96, help="SVD rank of each shipped matrix change")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up steps (default min(200, steps/10))")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="training arithmetic")
    ap.add_argument("--resume", action="store_true", help="start from the artefact at --out, not the bare encoder")
    ap.add_argument("--score", action="store_true", help="only score the artefact at --out, no training")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=offline.ARTEFACT)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(offline.encoder_dir())
    chunks = build_chunks(tokenizer, args.length)
    order = torch.randperm(len(chunks), generator=torch.Generator().manual_seed(42))
    n_held = max(256, len(chunks) // 50)
    held_out, train = chunks[order[:n_held]], chunks[order[n_held:]]
    print(f"{len(train)} training / {len(held_out)} held-out sequences of {args.length} tokens", flush=True)

    from safetensors import safe_open
    from safetensors.torch import load_file
    if args.score:
        score(load_file(args.out), tokenizer, held_out, args.out.name)
        return

    model = offline.base_model(attn_implementation="sdpa")
    base = {k: v.clone() for k, v in model.state_dict().items()}
    prior_steps = 0
    if args.resume:  # the delta we ship stays relative to the pip-installed encoder
        offline.apply(model, load_file(args.out))
        with safe_open(args.out, "pt") as f:
            prior_steps = int(f.metadata().get("steps", 0))
        print(f"resumed from {args.out} ({prior_steps} steps)", flush=True)
    frozen = ("bert.embeddings.word_embeddings", "bert.embeddings.position_embeddings",
              "bert.embeddings.token_type_embeddings")
    enc_params, head_params = [], []
    for name, p in model.named_parameters():
        if name.startswith(frozen):
            p.requires_grad_(False)
        else:
            (head_params if name.startswith("cls.") else enc_params).append(p)
    opt = torch.optim.AdamW([{"params": enc_params, "lr": args.lr}, {"params": head_params, "lr": args.head_lr}],
                            weight_decay=0.01)
    peaks = [args.lr, args.head_lr]
    warmup = args.warmup if args.warmup is not None else min(200, args.steps // 10)
    bf16 = args.precision == "bf16"

    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    t0 = time.time()
    running = 0.0
    for step in range(1, args.steps + 1):
        scale = step / warmup if step <= warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (args.steps - warmup)))
        for group, peak in zip(opt.param_groups, peaks):
            group["lr"] = peak * max(scale, 0.02)
        idx = torch.randint(len(train), (args.batch,), generator=gen)
        inputs, pos, targets = mask_batch(train[idx], tokenizer, gen, train=True)
        loss = torch.nn.functional.cross_entropy(masked_logits(model, inputs, pos, bf16), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc_params + head_params, 1.0)
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step}/{args.steps}  loss {running:.3f}  {time.time() - t0:.0f}s", flush=True)
        if step % args.eval_every == 0 and step < args.steps:
            save(model, base, tokenizer, held_out, args, step, prior_steps)  # usable even if stopped early

    save(model, base, tokenizer, held_out, args, args.steps, prior_steps)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.0f}s")


def save(model, base, tokenizer, held_out, args, step: int, prior_steps: int):
    """Compress, score the compressed model (what users get), and write the artefact. `step` counts this run,
    the metadata every run so far."""
    from safetensors.torch import save_file
    f1, f5, _ = evaluate(model, tokenizer, held_out)
    print(f"held-out, full fine-tune at step {step}: top-1 {f1:.1%}  top-5 {f5:.1%}", flush=True)
    tensors = offline.compress(base, {k: v.detach().clone() for k, v in model.state_dict().items()}, args.rank)
    t1, t5, n = score(tensors, tokenizer, held_out, f"shipped artefact at step {step} (rank {args.rank})")
    partial = args.out.with_suffix(".partial")  # a stopped run never leaves half an artefact
    save_file(tensors, partial, metadata={
        "encoder_sha256": offline.encoder_sha256(), "rank": str(args.rank),
        "steps": str(prior_steps + step),
        "held_out_top1": f"{t1:.4f}", "held_out_top5": f"{t5:.4f}", "held_out_tokens": str(n)})
    partial.replace(args.out)


if __name__ == "__main__":
    main()
