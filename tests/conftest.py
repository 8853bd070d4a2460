"""Models for the tests are made here, offline: random weights, real tokenizers.

Random-weight models predict nonsense; they are here to test the mechanics (shapes, files, pages), not
quality. The WordPiece tokenizer is bert-base-uncased's, taken from the pip-installed MiniLM package.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# two test workers on two cores: one thread each for torch (in them and in the builds they start), or the
# threads fight for the cores and every test waits
os.environ.setdefault("OMP_NUM_THREADS", "1")


from xdist_groups import pytest_collection_modifyitems  # noqa: E402,F401  (--dist loadgroup's groups kept)


def pytest_configure(config):
    config.addinivalue_line("markers", "offline_model: uses the real offline model (the pip-installed MiniLM "
                                       "encoder and models/offline-minilm-mlm.safetensors)")




def pytest_collection_finish(session):
    """The collected tests, the modules and torch (their imports) frozen before the first test: see below."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After each test, what it left is collected and what survives is frozen (gc.freeze): the cyclic
    collector then passes over torch's, transformers', matplotlib's and pytest's objects no more. A build
    calls gc.collect() once a model (to let the model go), and Python collects on its own as objects pile
    up: each such full pass over a test worker's half a million objects cost a third of a second or more,
    about 5 of test_build.py's 44 CPU seconds. Objects made in a test are still collected as they were."""
    yield
    gc.collect()
    gc.freeze()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium (never a downloaded one), driven by Playwright: one for each test worker's session.
    A launch and Playwright's driver cost a second or two of CPU, and a module's own browser was launched
    again each time a worker came back to the module; Playwright's sync API also refuses a second driver
    beside a running one, so every browser test takes this one and opens its own pages."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(autouse=True, scope="session")
def draw_in_this_process():
    """Builds run in the test process draw their pictures there too: forking drawing processes beside the
    threads torch has started can hang, and on two cores two test workers keep both busy anyway. The tests
    of the drawing processes themselves set render.PROCESSES, or run generate.py as a process of its own."""
    from bertgallery import render
    render.PROCESSES = 1


def save_bert(folder: Path, **shape) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from bertgallery import offline
    import torch
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(**shape)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(offline.encoder_dir()).save_pretrained(folder)
    return folder


TINY_SHAPE = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96)
# the sample gallery's model: weights 5 times BERT's initial spread, so that its attention and predictions
# are not nearly uniform (as they are at 0.02) and no discrete result of the golden site rests on a near-tie
SAMPLE_SHAPE = dict(TINY_SHAPE, initializer_range=0.1)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """2 layers x 3 heads, random weights."""
    return save_bert(tmp_path_factory.mktemp("tiny-bert"), **TINY_SHAPE)


def shared(tmp_path_factory, name: str, make) -> Path:
    """The folder `make(folder)` fills, made once for the whole run instead of once in each test worker:
    under pytest-xdist the first worker to ask makes it, under a lock, beside the workers' own temporary
    folders (pytest-xdist's recipe for session fixtures), and the others wait for it and share it. Its
    users must not change it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    import fcntl
    import shutil
    root = tmp_path_factory.getbasetemp().parent  # this run's, above each worker's own
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed left
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def sample_bert(tmp_path_factory) -> Path:
    """The sample gallery's model (SAMPLE_SHAPE), random weights; one for the run (`shared`)."""
    return shared(tmp_path_factory, "sample-bert", lambda folder: save_bert(folder, **SAMPLE_SHAPE))


@pytest.fixture(scope="session")
def base_shaped_bert(tmp_path_factory) -> Path:
    """BERT-base's 12 layers x 12 heads (144 pictures a sentence), random weights, on a hidden size of 96
    instead of 768: the 144-head tests look at files and pages, and the full size takes seconds to make."""
    return save_bert(tmp_path_factory.mktemp("base-bert"), hidden_size=96, intermediate_size=192)


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    """A RoBERTa-style model, whose mask token is <mask>: a byte-level BPE trained here on a few lines."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast
    import torch

    folder = tmp_path_factory.mktemp("tiny-roberta")
    bpe = ByteLevelBPETokenizer()
    text = ["The cat sat on the mat and looked around.", "A dog ran in the park.", "I like green tea."] * 20
    bpe.train_from_iterator(text, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    vocab = json.loads((folder / "vocab.json").read_text())
    merges = [tuple(line.split()) for line in (folder / "merges.txt").read_text().splitlines()[1:] if line]
    tok = RobertaTokenizerFast(vocab=vocab, merges=merges)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=66, pad_token_id=tok.pad_token_id,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    RobertaForMaskedLM(cfg).save_pretrained(folder)
    return folder


# The sample gallery every site, page and browser test looks at, and tests/golden/ holds as expected output:
# a seeded tiny model (SAMPLE_SHAPE, named by a relative path, so pages do not depend on where the test runs),
# markup and script in a title and a note, two masks in one sentence.
SAMPLE = """model: ./tiny-model
top_k: 4
sentences:
  - id: cat
    title: "Cats <b>& mats</b>"
    text: The cat sat on the [MASK] and looked around.
  - text: I [MASK] to the [MASK] every day.
    note: "<script>alert('x')</script>"
  - id: long-word
    text: Pneumonoultramicroscopicsilicovolcanoconiosis is a [MASK].
"""


@contextlib.contextmanager
def working_folder(folder: Path):
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(old)


def build_sample(folder: Path, model_folder: Path) -> Path:
    """Build the sample gallery in `folder` (its model copied to folder/tiny-model); returns the site."""
    import shutil

    from bertgallery import build, config
    shutil.copytree(model_folder, folder / "tiny-model")
    (folder / "sentences.yaml").write_text(SAMPLE, encoding="utf-8")
    with working_folder(folder):
        build.build(config.load(Path("sentences.yaml")), Path("site"), build.Options(fallback=False, progress=False))
    return folder / "site"


@pytest.fixture(scope="session")
def base_site(base_shaped_bert, tmp_path_factory) -> Path:
    """One 12-token sentence with BERT-base's shape (144 heads, random weights), built once."""
    from bertgallery import build, config
    folder = tmp_path_factory.mktemp("base-site")
    (folder / "s.yaml").write_text(f"model: {base_shaped_bert}\nsentences:\n"
                                   "  - {id: cat, text: 'The cat sat on the [MASK] and looked around.'}\n")
    build.build(config.load(folder / "s.yaml"), folder / "site", build.Options(fallback=False, progress=False))
    return folder / "site"


@pytest.fixture(scope="session")
def sample_site(sample_bert, tmp_path_factory) -> Path:
    """Built once for the whole run, by whichever test worker needs it first (`shared`): some seventy tests
    in both workers read it, and its build takes seconds. Tests must not change it."""
    return shared(tmp_path_factory, "sample", lambda folder: build_sample(folder, sample_bert)) / "site"


def file_hashes(folder: Path) -> dict:
    """Every file under `folder` by SHA-256: what must come through a failed build unchanged."""
    import hashlib
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def site_files(site: Path, pngs: bool = True) -> dict:
    """Every file of a built site, the manifest without 'hashes' (the model files' sizes and times on this
    machine): two builds of the same gallery give the same."""
    files = {}
    for path in sorted(site.rglob("*")):
        if path.is_file() and (pngs or path.suffix != ".png"):
            data = path.read_bytes()
            if path.name == "manifest.json" and path.parent == site:
                manifest = json.loads(data)
                manifest.pop("hashes")
                data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
            files[str(path.relative_to(site))] = data
    return files


def run_generate(*args, cwd=ROOT, env=None, timeout=600) -> subprocess.CompletedProcess:
    """generate.py as a process of its own: for what only a real process shows (its imports, signals)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli(*args, cwd=ROOT, stdin: str = "") -> subprocess.CompletedProcess:
    """generate.py's main() in this process, as run_generate runs it in a new one (its exit status, standard
    output and error), without a new process's seconds of imports."""
    import generate
    out, err, old = io.StringIO(), io.StringIO(), sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    try:
        with working_folder(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = generate.main([str(a) for a in args])
            except SystemExit as e:  # argparse
                code = e.code
    finally:
        sys.stdin = old
    return subprocess.CompletedProcess(["generate.py", *map(str, args)], code, out.getvalue(), err.getvalue())


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# A gallery of several models: two tiny random masked LMs with different tokenizers (WordPiece, byte-level BPE)
# and the pip-installed MiniLM encoder, which has no masked-LM head
MODELS_SAMPLE = """models: {models}
top_k: 3
sentences:
  - id: cat
    text: The cat sat on the [MASK] and looked around.
  - id: two
    text: I [MASK] to the [MASK] every day.
"""


@pytest.fixture(scope="session")
def models_sites(tiny_bert, tiny_roberta, tmp_path_factory) -> dict:
    """The sample of several models built in three steps, each from a copy of the step before: one model
    (tiny BERT), two (+ tiny RoBERTa), three (+ minilm). {step: (site, build.Summary, [the model of each
    sentence run])}. Tests must not change the sites."""
    import shutil

    from bertgallery import build, config, measure
    folder, runs, real, sites, previous = tmp_path_factory.mktemp("models"), [], measure.sentence, {}, None

    def counting(loaded, *args, **kwargs):
        runs.append(loaded.info.name)
        return real(loaded, *args, **kwargs)
    measure.sentence = counting
    try:
        for step, models in (("one", [tiny_bert]), ("two", [tiny_bert, tiny_roberta]),
                             ("three", [tiny_bert, tiny_roberta, "minilm"])):
            here = folder / step
            here.mkdir()
            if previous:
                shutil.copytree(previous, here / "site")
            (here / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps([str(m) for m in models])))
            runs.clear()
            summary = build.build(config.load(here / "s.yaml"), here / "site",
                                  build.Options(fallback=False, progress=False))
            sites[step] = (here / "site", summary, list(runs))
            previous = here / "site"
    finally:
        measure.sentence = real
    return sites
