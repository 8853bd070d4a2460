"""records.Result: a sentence computed now and the same sentence read back from its data.json. Random weights
(tiny BERT) test the mechanics."""
import json
from dataclasses import fields

import numpy as np

from bertgallery import measure, model
from bertgallery.records import Result


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return a == b or (a != a and b != b)  # NaN: a statistic that does not apply


def test_a_stored_result_is_exactly_what_its_data_json_reads_back(tiny_bert):
    """What the build renders of a sentence it computes (Result.stored) is what the next build renders of it
    taken over: every number already at data.json's precision, so no page number is rounded twice."""
    loaded = model.load(str(tiny_bert), fallback=False)
    found, _ = measure.result(loaded, "I [MASK] to the [MASK] every day.", 4, "gradient")
    stored = found.stored()
    back = Result.from_json(json.loads(json.dumps(stored.to_json(loaded.info))))
    for f in fields(Result):
        if f.name == "mixing":  # view-data.js keeps it, not data.json
            continue
        if f.name == "masks":  # the top prediction's token id is not kept: nothing after the run needs it
            assert [m.target for m in back.masks] == [-1, -1]
            for m in stored.masks:
                m.target = -1
        assert same(getattr(stored, f.name), getattr(back, f.name)), f.name
    # computed numbers do differ from the stored ones: the test compares something
    assert not same(found.masks[0].importance, stored.masks[0].importance)
    assert same(stored.stored(), stored)  # rounding what is stored changes nothing
