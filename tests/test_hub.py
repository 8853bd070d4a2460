"""Hub ids against a stand-in for the Hugging Face hub (tests/hub_standin.py) on 127.0.0.1: the path every
online user takes — download, cache, reuse offline, a typo, a gated or private model, a hub that drops the
connection or never answers. The builds run as subprocesses with HF_HUB_OFFLINE unset (conftest sets it for
the tests themselves), HF_ENDPOINT on the stand-in and the Hugging Face cache in a temporary HF_HOME. The
served model is the tiny random BERT (mechanics only)."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, file_hashes, write_yaml
from hub_standin import TOKEN, Hub, Repo, client_env

SENTENCES = "sentences:\n  - id: cat\n    text: The cat sat on the [MASK].\n"


@pytest.fixture(scope="module")
def repos(tiny_bert):
    return {"standin/tiny-bert": Repo.from_folder(tiny_bert), "standin/gated": Repo.from_folder(tiny_bert, gated=True),
            "standin/private": Repo.from_folder(tiny_bert, private=True)}


@pytest.fixture
def hub(repos):
    with Hub(repos) as running:
        yield running


@pytest.fixture(scope="module")
def previous_site(tiny_bert, tmp_path_factory):
    """A site built from a local folder: what every failed build must leave as it was."""
    folder = tmp_path_factory.mktemp("previous")
    write_yaml(folder / "s.yaml", f"model: {tiny_bert}\n{SENTENCES}")
    r = generate(folder, "s.yaml", "--quiet", endpoint="http://127.0.0.1:9", home=folder / "hf")
    assert r.returncode == 0, r.stderr
    return folder / "site"


def generate(cwd, *args, endpoint: str, home, timeout=300, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *map(str, args)], cwd=cwd,
                          env=client_env(endpoint, HF_HOME=str(home), **extra), capture_output=True, text=True,
                          timeout=timeout)


def model_build(tmp_path, hub, model, *args, previous=None, **extra):
    """Build one sentence with `model` into tmp_path/site (a copy of `previous`, when given)."""
    if previous is not None:
        shutil.copytree(previous, tmp_path / "site")
    write_yaml(tmp_path / "s.yaml", f"model: {model}\n{SENTENCES}")
    return generate(tmp_path, "s.yaml", "--quiet", *args, endpoint=hub.url,
                    home=tmp_path / "hf", **extra)


def built_with(site) -> str:
    return json.loads((site / "cat" / "data.json").read_text())["model"]["name"]


@pytest.mark.slow
def test_a_first_build_downloads_and_says_so_then_the_cache_serves_it_with_the_hub_gone(hub, tmp_path):
    r = model_build(tmp_path, hub, "standin/tiny-bert", "--no-fallback")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith(f"downloading standin/tiny-bert (6 MB) from the hub at {hub.url} into the Hugging "
                               f"Face cache ({tmp_path / 'hf' / 'hub'})"), lines
    assert built_with(tmp_path / "site") == "standin/tiny-bert"
    asked = {path.split("?")[0] for _, path in hub.requests}
    commit = hub.repos["standin/tiny-bert"].sha
    assert {"/api/models/standin/tiny-bert", f"/standin/tiny-bert/resolve/{commit}/model.safetensors",
            f"/standin/tiny-bert/resolve/{commit}/config.json"} <= asked
    snapshot = tmp_path / "hf" / "hub" / "models--standin--tiny-bert" / "snapshots" / commit
    assert (snapshot / "model.safetensors").read_bytes() == hub.repos["standin/tiny-bert"].files["model.safetensors"]
    hub.stop()  # the port refuses connections from now on
    r = model_build(tmp_path, hub, "standin/tiny-bert", "--no-fallback", "--force")
    assert r.returncode == 0, r.stderr
    assert "downloading" not in r.stderr and "note:" not in r.stderr
    assert built_with(tmp_path / "site") == "standin/tiny-bert"


@pytest.mark.slow
def test_an_unknown_id_is_an_error_with_a_did_you_mean_never_a_fallback(hub, tmp_path, previous_site):
    r = model_build(tmp_path, hub, "bert-base-uncsed", previous=previous_site)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        "error: model 'bert-base-uncsed' is not on the Hugging Face hub, or it is private (did you mean "
        "'bert-base-uncased'?): check the id, or log in to use a private model (set HF_TOKEN to an access token "
        f"from {hub.url}/settings/tokens, or run 'hf auth login')")
    assert file_hashes(tmp_path / "site") == file_hashes(previous_site)
    # a private model looks the same to an anonymous user: the hub does not tell them apart
    r = model_build(tmp_path, hub, "standin/private")
    assert r.returncode == 2 and "'standin/private' is not on the Hugging Face hub, or it is private: " in r.stderr
    assert ("GET", "/api/models/standin/private?blobs=true") in hub.requests
    # an id close to one in the cache is suggested
    assert model_build(tmp_path, hub, "standin/tiny-bert").returncode == 0
    r = model_build(tmp_path, hub, "standin/tiny-brt", "--no-fallback")
    assert r.returncode == 2 and "(did you mean 'standin/tiny-bert'?)" in r.stderr
    r = model_build(tmp_path, hub, "standin/private", HF_TOKEN="hf_someone_else")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: model 'standin/private' is not on the Hugging Face hub, or it is private and your token (HF_TOKEN "
        "or 'hf auth login') has no access to it: check the id")


@pytest.mark.slow
def test_a_gated_model_says_how_to_get_access_and_log_in(hub, tmp_path, previous_site):
    r = model_build(tmp_path, hub, "standin/gated", previous=previous_site)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        f"error: model 'standin/gated' is gated: ask for access on {hub.url}/standin/gated, then log in (set "
        f"HF_TOKEN to an access token from {hub.url}/settings/tokens, or run 'hf auth login')")
    assert file_hashes(tmp_path / "site") == file_hashes(previous_site)
    r = model_build(tmp_path, hub, "standin/gated", HF_TOKEN="hf_without_access")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: model 'standin/gated' is gated and your token (HF_TOKEN or 'hf auth login') has no access to it: "
        f"ask for access on {hub.url}/standin/gated with that account")
    assert file_hashes(tmp_path / "site") == file_hashes(previous_site)
    # and the advice works: with a token that has access, it downloads
    r = model_build(tmp_path, hub, "standin/gated", HF_TOKEN=TOKEN)
    assert r.returncode == 0, r.stderr
    assert built_with(tmp_path / "site") == "standin/gated"


@pytest.mark.slow
@pytest.mark.parametrize("mode, why", [
    ("drop", "closed the connection without answering"),
    ("stall", "did not answer within 2 s (--hub-timeout sets how long to wait)"),
])
def test_a_hub_that_drops_or_stalls_fails_with_no_fallback_and_leaves_the_site(hub, tmp_path, previous_site, mode,
                                                                               why):
    hub.mode = mode
    r = model_build(tmp_path, hub, "standin/tiny-bert", "--no-fallback", "--hub-timeout", "2", previous=previous_site,
                    timeout=60)  # a guard against a hang, not a measurement
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"error: model 'standin/tiny-bert' is not in the Hugging Face cache and the hub at "
                                f"{hub.url} {why}: connect to the internet once, or pass a local folder with --model")
    assert file_hashes(tmp_path / "site") == file_hashes(previous_site)
    # bounded by the count of requests: after the first failure none is retried (each waits at most 2 s)
    assert len(hub.requests) <= 2, hub.requests


@pytest.mark.slow
def test_a_download_that_stalls_after_the_lookup_is_given_up_too(hub, tmp_path, previous_site):
    hub.mode = "stall-files"  # the API answers, the files never come
    r = model_build(tmp_path, hub, "standin/tiny-bert", "--no-fallback", "--hub-timeout", "2", previous=previous_site,
                    timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: model 'standin/tiny-bert' is not in the Hugging Face cache and the hub at {hub.url} did not answer "
        "within 2 s (--hub-timeout sets how long to wait): connect to the internet once, or pass a local folder "
        "with --model")
    assert file_hashes(tmp_path / "site") == file_hashes(previous_site)
    assert sum("/resolve/" in path for _, path in hub.requests) == 1, hub.requests  # not retried


@pytest.mark.slow
@pytest.mark.parametrize("mode, why", [
    ("drop", "closed the connection without answering"),
    ("stall", "did not answer within 2 s (--hub-timeout sets how long to wait)"),
])
def test_a_hub_that_drops_or_stalls_falls_back_to_the_offline_model(hub, tmp_path, mode, why):
    hub.mode = mode
    r = model_build(tmp_path, hub, "standin/tiny-bert", "--hub-timeout", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[0] == (
        f"note: standin/tiny-bert is not in the Hugging Face cache and the hub at {hub.url} {why}; using the offline "
        "model instead (--no-fallback turns this off)")
    assert built_with(tmp_path / "site") == "offline"
    assert "standin/tiny-bert could not be downloaded" in (tmp_path / "site" / "cat" / "index.html").read_text()


@pytest.mark.slow
def test_hub_timeout_is_checked():
    for value in ("0", "-1", "soon", "nan"):
        r = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--hub-timeout", value], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("error: argument --hub-timeout: "), r.stderr
