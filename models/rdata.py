"""R's lazy-load databases (.rdb), read without R: the corpora of train_offline.py and make_corpus.py come
from R data packages in Debian (janeaustenr's novels, stringr's Harvard sentences)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def r_character_vectors(rdb: Path, errors: str = "strict"):
    """The top-level character vectors in an R lazy-load database (.rdb): zlib blocks of R's XDR serialisation.
    `errors` as for bytes.decode: make_corpus.py wants a bad byte to stop it, the training text tolerates one."""
    data = rdb.read_bytes()
    pos = 0
    while pos < len(data):
        z = zlib.decompressobj()
        blob = z.decompress(data[pos + 4:])
        pos = len(data) - len(z.unused_data)
        assert blob[:2] == b"X\n", "not an XDR serialisation"
        p = 2
        version = struct.unpack(">i", blob[p:p + 4])[0]
        p += 12
        if version == 3:
            p += 4 + struct.unpack(">i", blob[p:p + 4])[0]
        flags, n = struct.unpack(">ii", blob[p:p + 8])
        p += 8
        if flags & 0xFF != 16:  # STRSXP
            continue
        items = []
        for _ in range(n):
            _, size = struct.unpack(">ii", blob[p:p + 8])
            p += 8
            items.append(blob[p:p + max(size, 0)].decode("utf-8", errors))
            p += max(size, 0)
        yield items
