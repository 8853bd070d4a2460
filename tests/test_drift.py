"""models/attention_drift.py: a few lines over the build and its compare page (the arithmetic is
bertgallery/compare.py's, tested in test_compare.py); the table on a hand-made compare.json, then the script on
the real models (the offline model against the pip-installed MiniLM encoder)."""
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "models"))
import attention_drift as ad  # noqa: E402


def test_the_table_is_the_compare_pages_per_layer_numbers():
    rows = ad.table({"same_top": [1.0, 0.6], "namesakes": [0.0, 0.2151]})
    assert rows == [("1", "100.0 %", "0.000"), ("2", "60.0 %", "0.215"), ("all", "80.0 %", "0.108")]


def test_the_example_compares_the_offline_model_with_minilm_over_everyday_and_gallery_sentences():
    from bertgallery import config, offline
    cfg = config.load(ad.EXAMPLE)
    assert cfg.models == ["offline", "minilm"]
    texts = [s.text for s in cfg.sentences]
    assert len(texts) == 35 == len(set(texts))  # 30 + 8, three of them in both files
    assert set(texts) == {t for t, _ in offline.everyday_sentences()} | \
        {s.text for s in config.load(ROOT / "sentences.yaml").sentences if not s.pair}  # pairs came after the drift


@pytest.mark.slow
@pytest.mark.offline_model
def test_script_on_the_real_offline_model(capsys, tmp_path):
    ad.main(["--out", str(tmp_path / "site")])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\d|all) \| ([\d.]+) % \| ([\d.]+) \|$", out, flags=re.M)
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5", "6", "all"], out
    # fine-tuning did move attention, but most rows still pick the same token
    assert 50 < float(rows[-1][1]) < 100 and 0 < float(rows[-1][2]) < 0.3, out
    assert "35 sentences" in out
    # what the pages show (offline.DRIFT, on the statistics page of a gallery built with it) is this run
    from bertgallery import offline
    assert [(layer, f"{share} %", js) for layer, share, js in rows] == list(offline.DRIFT), out
