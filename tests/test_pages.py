"""The GitHub Pages workflow: valid YAML with the steps the README promises."""
import yaml

from bertgallery import config, names
from conftest import ROOT


def test_workflow_builds_and_deploys_the_site():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    on = wf[True]  # YAML 1.1 reads the key 'on' as true
    assert on["push"]["branches"] == ["main"]
    assert wf["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}  # the deploy job only
    assert wf["concurrency"]["group"] == "pages"
    build, deploy = wf["jobs"]["build"]["steps"], wf["jobs"]["deploy"]
    uses = [s.get("uses", "") for s in build]
    assert any(u.startswith("actions/setup-python") for u in uses)
    cache = next(s for s in build if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == "~/.cache/huggingface"
    run = "\n".join(s.get("run", "") for s in build)
    assert "pip install torch==2.13.0" in run and "python generate.py" in run
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "site"
    assert deploy["environment"]["name"] == "github-pages" and deploy["needs"] == "build"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages")
    # the workflow builds the shipped sentences.yaml, which names bert-base-uncased
    assert config.load(ROOT / "sentences.yaml").models == ["bert-base-uncased"]


def test_no_underscore_folders_that_jekyll_would_hide():
    assert not names.STATIC.startswith("_") and not names.HEADS.startswith("_")
