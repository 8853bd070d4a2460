"""The output folder: a person's files are never lost to a build (the data-loss cases of issue 14)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import generate
from bertgallery import manifest, names, output
from conftest import ROOT, file_hashes

ONE = "sentences:\n  - {id: a, text: 'The cat sat on the [MASK].'}\n"


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(ONE)
    return path


def gen(cfg, out, tiny_bert, *extra):
    return generate.main([str(cfg), "--out", str(out), "--model", str(tiny_bert), "--quiet", *extra])


def test_a_web_apps_folder_with_a_manifest_is_refused_untouched(cfg, tmp_path, tiny_bert, capsys):
    public = tmp_path / "public"
    public.mkdir()
    (public / "manifest.json").write_text('{"name": "My App"}')
    (public / "index.html").write_text("hi")
    (public / "robots.txt").write_text("x")
    before = file_hashes(public)
    assert gen(cfg, public, tiny_bert) == 2
    assert "already holds files this tool did not make" in capsys.readouterr().err
    assert file_hashes(public) == before


def test_the_tools_own_manifest_is_recognised_by_structure():
    good = {"tool": manifest.TOOL, "version": manifest.VERSION, "models": ["folder:x", "minilm:y"],
            "pages": {"index.html": "0" * 64}, "hashes": {},
            "sentences": [{"folder": "a/x", "keys": {"results": "k", "pictures": "p"}, "files": {"data.json": "0" * 64}}],
            "corpus": [{"folder": "heads/x", "keys": {"counts": "c"}, "files": {"corpus.json": "1" * 64}}],
            "compare": [{"folder": "compare/x--y", "keys": {"compare": "c"}, "files": {"compare.json": "2" * 64}}],
            "live": [{"folder": "live", "keys": {"export": "e"}, "files": {"model.js": "3" * 64}}],
            "author": {"CNAME": "4" * 64, "Pictures/a.png": "5" * 64}}
    assert manifest.Manifest.from_json(good).to_json() == good
    assert manifest.Manifest.from_json(good).files() >= {"live/model.js", "heads/x/corpus.json", "a/x/data.json",
                                                         "CNAME", "Pictures/a.png"}
    for broken in ({**good, "tool": "other"}, {**good, "more": 1}, {**good, "sentences": [{"folder": "a"}]},
                   {**good, "models": {"name": "m", "extra": 1}}, {**good, "models": "folder:x"}, [], {"name": "My App"},
                   {**good, "sentences": [{"folder": "a", "keys": {"results": "k"}, "files": {"../x": "0" * 64}}]},
                   {**good, "sentences": [{"folder": "..", "keys": {"results": "k"}, "files": {}}]},
                   {**good, "sentences": [{"folder": "a/../b", "keys": {"results": "k"}, "files": {}}]},
                   {**good, "sentences": [{"folder": "a/b/c", "keys": {"results": "k"}, "files": {}}]},
                   {**good, "sentences": [{"folder": "a", "keys": {"results": 1}, "files": {}}]},
                   {**good, "corpus": None}, {**good, "pages": {"../../etc/passwd": "0" * 64}},
                   {**good, "live": [{"folder": "live", "keys": {"export": "e"}, "files": {"../x.js": "0" * 64}}]},
                   {k: v for k, v in good.items() if k != "live"}, {**good, "author": {"../CNAME": "4" * 64}},
                   {**good, "author": {".git/config": "4" * 64}}, {**good, "author": {"index.html": "4" * 64}},
                   {**good, "author": ["CNAME"]}):
        assert manifest.Manifest.from_json(broken) is None


@pytest.mark.slow
def test_sibling_folders_a_person_made_survive_every_build(cfg, tmp_path, tiny_bert):
    public = tmp_path / "public"
    mine = [tmp_path / ".public.backup-2024", tmp_path / ".public.v2-draft", tmp_path / ".bertgallery-notes"]
    for folder in mine:
        folder.mkdir()
        (folder / "keep.txt").write_text("precious")
    assert gen(cfg, public, tiny_bert) == 0
    assert gen(cfg, public, tiny_bert, "--force") == 0
    for folder in mine:
        assert (folder / "keep.txt").read_text() == "precious"


@pytest.mark.slow
def test_cleanup_takes_only_marked_leftovers(cfg, tmp_path, tiny_bert):
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 0
    stem = output._stem(site)
    unmarked = tmp_path / f"{stem}-build-1"  # the right name, but no marker and no manifest: not ours
    unmarked.mkdir()
    (unmarked / "keep.txt").write_text("precious")
    marked = tmp_path / f"{stem}-build-2"  # what an interrupted build leaves
    marked.mkdir()
    (marked / output.MARKER).write_text(json.dumps({"output": "site", "pid": 2}))
    other = tmp_path / f"{stem}-build-3"  # marked for another output folder
    other.mkdir()
    (other / output.MARKER).write_text(json.dumps({"output": "elsewhere", "pid": 3}))
    assert gen(cfg, site, tiny_bert, "--force") == 0
    assert (unmarked / "keep.txt").exists() and other.exists() and not marked.exists()


def test_cleanup_reads_no_pipe_device_or_link_in_a_leftover(tmp_path):
    """A staging-named folder whose marker is a named pipe, or whose manifest.json is a link to /dev/zero:
    cleanup used to wait on the pipe forever and read /dev/zero until memory ran out. Neither is ours: left."""
    import threading
    site = tmp_path / "site"
    stem = output._stem(site)
    piped = tmp_path / f"{stem}-build-5"
    piped.mkdir()
    os.mkfifo(piped / output.MARKER)
    (piped / "keep.txt").write_text("precious")
    endless = tmp_path / f"{stem}-build-6"
    endless.mkdir()
    (endless / names.MANIFEST).symlink_to("/dev/zero")
    (endless / "keep.txt").write_text("precious")
    linked = tmp_path / f"{stem}-old-7"  # a marker through a link is not a marker
    linked.mkdir()
    (tmp_path / "elsewhere.json").write_text(json.dumps({"output": "site", "pid": 7}))
    (linked / output.MARKER).symlink_to(tmp_path / "elsewhere.json")
    (linked / "keep.txt").write_text("precious")
    worker = threading.Thread(target=output.cleanup, args=(site,), daemon=True)
    worker.start()
    worker.join(timeout=60)  # a bound on a hang, not a timing: it returns at once
    assert not worker.is_alive()
    assert all((folder / "keep.txt").read_text() == "precious" for folder in (piped, endless, linked))


@pytest.mark.slow
def test_an_old_site_whose_swap_was_cut_short_is_put_back(cfg, tmp_path, tiny_bert):
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 0
    before = file_hashes(site)
    os.rename(site, tmp_path / f"{output._stem(site)}-old-99")  # a crash between the two renames
    output.cleanup(site)
    assert file_hashes(site) == before


@pytest.mark.slow
def test_out_through_a_symbolic_link_builds_in_its_target(cfg, tmp_path, tiny_bert):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    assert gen(cfg, link, tiny_bert) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert (target / "index.html").exists() and (target / "a" / "data.json").exists()
    assert gen(cfg, link, tiny_bert, "--force") == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["link", "real", "s.yaml"]


@pytest.mark.skipif(not os.path.ismount("/dev/shm"), reason="needs a mount point: /dev/shm is one on Linux")
def test_a_mount_point_is_refused_before_any_work(cfg, tmp_path, tiny_bert, capsys):
    """A mount point (a Docker volume given as --out) cannot be renamed: the build ran the model, then failed at
    the swap with 'Device or resource busy'. Now it fails first, saying what to do (exit 1: the machine's)."""
    link = tmp_path / "volume"
    link.symlink_to("/dev/shm")  # a link to it builds into its target: the mount point itself
    before = sorted(os.listdir("/dev/shm"))
    assert gen(cfg, link, tiny_bert) == 1
    err = capsys.readouterr().err
    assert err == "error: output path /dev/shm is a mount point, which a build cannot swap a new site into; build " \
                  "into a folder inside it (--out /dev/shm/site)\n"
    assert sorted(os.listdir("/dev/shm")) == before and not list(Path("/dev").glob(".bertgallery-*"))


def test_a_dangling_link_is_refused(cfg, tmp_path, tiny_bert, capsys):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert gen(cfg, tmp_path / "link", tiny_bert) == 2
    assert "is a symbolic link to" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("where", [".", "..", "/"])
def test_the_working_folder_and_its_ancestors_are_refused(cfg, tmp_path, tiny_bert, monkeypatch, capsys, where):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("precious")
    monkeypatch.chdir(work)
    assert gen(cfg, where, tiny_bert) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("folder you are working in" in err or "root of the file system" in err)
    assert (work / "mine.txt").read_text() == "precious" and Path.cwd() == work


def test_the_project_folder_is_refused(cfg, tiny_bert, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gen(cfg, ROOT, tiny_bert) == 2
    assert "holds this tool's own files" in capsys.readouterr().err


@pytest.mark.slow
def test_a_250_character_folder_name_builds(cfg, tmp_path, tiny_bert):
    out = tmp_path / ("s" * 250)
    assert gen(cfg, out, tiny_bert) == 0
    assert gen(cfg, out, tiny_bert, "--force") == 0
    assert (out / "index.html").exists()


@pytest.mark.slow
def test_a_second_build_waits_for_the_first_or_fails_with_no_wait(cfg, tmp_path, tiny_bert, capsys):
    """While another process holds the lock, a build waits (saying so), or with --no-wait gives up at once.
    The holder is a process of its own (the lock is between processes); the builds run in this one."""
    import threading
    import time
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 0
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from bertgallery import output\n"
        "with output.lock(Path(sys.argv[1]), wait=False):\n"
        "    print('locked', flush=True); sys.stdin.readline()\n"), str(site)], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        capsys.readouterr()
        assert gen(cfg, site, tiny_bert, "--force", "--no-wait") == 1
        assert capsys.readouterr().err == f"error: another build is writing {site}; try again when it is done " \
                                          "(or leave out --no-wait)\n"
        done = []
        waiting = threading.Thread(target=lambda: done.append(gen(cfg, site, tiny_bert, "--force")))
        waiting.start()
        said, deadline = "", time.monotonic() + 60  # a safety net, not a measurement
        while "\n" not in said and time.monotonic() < deadline:
            time.sleep(0.02)
            said += capsys.readouterr().err
        assert said == f"another build is writing {site}; waiting\n"
        assert waiting.is_alive()  # still waiting, until the holder lets go
        holder.communicate("go\n", timeout=10)
        waiting.join(60)
        assert done == [0] and holder.returncode == 0
    finally:
        holder.kill()


def test_a_folder_that_appears_at_out_during_the_build_is_left_alone(tmp_path):
    out = tmp_path / "site"
    before = output.snapshot(out)
    with pytest.raises(output.Changed, match="while this build ran"):
        with output.Staging(out) as staging:
            staging.write("index.html", "new")
            out.mkdir()  # made by someone else while we built
            (out / "notes.txt").write_text("precious")
            staging.swap(before)
    assert (out / "notes.txt").read_text() == "precious" and not list(tmp_path.glob(".bertgallery-*-build-*"))


@pytest.mark.slow
def test_a_file_added_to_the_site_during_the_build_stops_the_swap(cfg, tmp_path, tiny_bert):
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 0
    before = output.snapshot(site)
    (site / "notes.txt").write_text("precious")
    with pytest.raises(output.Changed, match="changed while this build ran"):
        with output.Staging(site) as staging:
            staging.swap(before)
    assert (site / "notes.txt").read_text() == "precious"


def test_a_leftover_killed_halfway_through_its_deletion_is_still_recognised(tmp_path):
    """_discard removes the marker last: whatever a kill leaves, the next cleanup knows it is ours."""
    out = tmp_path / "site"
    leftover = tmp_path / f"{output._stem(out)}-build-7"
    (leftover / "cat").mkdir(parents=True)
    (leftover / output.MARKER).write_text(json.dumps({"output": "site", "pid": 7}))
    (leftover / "cat" / "data.json").write_text("{}")
    output.cleanup(out)
    assert not leftover.exists()


def test_an_output_name_too_long_for_the_file_system_is_one_line(cfg, tmp_path, tiny_bert, capsys):
    assert gen(cfg, tmp_path / ("x" * 300), tiny_bert) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "File name too long" in err and len(err) < 200


def die(args):
    os._exit(1)  # as a process the kernel's OOM killer picked would


def test_a_drawing_process_that_dies_ends_the_build_with_one_line(cfg, tmp_path, tiny_bert, capsys, monkeypatch):
    from bertgallery import render
    monkeypatch.setattr(render, "PROCESSES", 2)  # drawing processes, as outside the tests
    monkeypatch.setattr(render, "_draw_heads", die)
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 1
    assert capsys.readouterr().err == ("error: a process drawing the pictures ended unexpectedly (out of memory?); "
                                       "the previous site is unchanged\n")
    assert not site.exists() and not list(tmp_path.glob(".bertgallery-*-build-*"))


def test_every_file_a_build_writes_is_named_as_the_tools_files(sample_site):
    """names.site_file decides what a build may replace in a site of another version: it must know every
    name a build writes."""
    written = output.listing(sample_site)
    assert written and all(names.site_file(f) for f in written) and not output._strangers(sample_site, None)


@pytest.mark.slow
def test_a_site_of_an_earlier_version_holding_only_the_tools_files_is_replaced(cfg, tmp_path, tiny_bert):
    site = tmp_path / "site"
    (site / "manifest.json").parent.mkdir()
    (site / "manifest.json").write_text(json.dumps({
        "version": 2, "sentences": {"old": "0" * 20}, "index": "1" * 20,
        "model": {"name": "bert-base-uncased", "layers": 12, "heads": 12, "note": ""}}))
    for rel in ("index.html", "static/style.css", "heads/layer12-head12.html", "old/Attention_Layer12_Head12.png",
                "old/data.json", "old/index.html"):
        (site / rel).parent.mkdir(exist_ok=True)
        (site / rel).write_text("old")
    assert gen(cfg, site, tiny_bert) == 0
    assert not (site / "old").exists() and (site / "a" / "data.json").exists()
    assert (site / "static" / "style.css").read_text() != "old"


def test_a_folder_we_may_not_write_is_the_machines_doing(cfg, tmp_path, tiny_bert, capsys, monkeypatch):
    """Exit status 1, as the README says (it was 2, the input's); the tests run as root, who may write
    anywhere, so the permission is taken away by hand."""
    real_access = os.access
    monkeypatch.setattr(output.os, "access", lambda path, mode: False if Path(path) == tmp_path else
                        real_access(path, mode))
    assert gen(cfg, tmp_path / "site", tiny_bert) == 1
    assert capsys.readouterr().err == f"error: output path {tmp_path / 'site'}: cannot write in {tmp_path}\n"


@pytest.mark.slow
def test_lock_files_go_when_the_build_ends(cfg, tmp_path, tiny_bert, capsys):
    """A lock file per output name used to stay after every build, failed ones too."""
    assert gen(cfg, tmp_path / "site", tiny_bert) == 0
    assert generate.main([str(cfg), "--out", str(tmp_path / "other"), "--model", str(tmp_path / "no-model"),
                          "--quiet"]) == 2  # fails with the lock held: the model is checked under it
    assert "no-model does not exist" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.lock")) and sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "site"]


def test_a_lock_removed_while_a_build_waits_for_it_is_not_shared(tmp_path):
    """The build that waited on a lock file the holder then removed locks the file there now, so two
    builds can never both think they hold the lock."""
    out = tmp_path / "site"
    first = output.lock(out, wait=False)
    first.__enter__()
    waiter = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from bertgallery import output\n"
        "with output.lock(Path(sys.argv[1]), wait=True):\n"
        "    print('locked', flush=True); sys.stdin.readline()\n"), str(out)], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stderr.readline() == f"another build is writing {out}; waiting\n"
        first.__exit__(None, None, None)  # removes the file the waiter waits on
        assert waiter.stdout.readline() == "locked\n"
        with pytest.raises(output.Busy):  # the waiter holds the lock on the file that is there now
            with output.lock(out, wait=False):
                pass
        waiter.communicate("go\n", timeout=30)
        assert waiter.returncode == 0 and not list(tmp_path.glob("*.lock"))
    finally:
        waiter.kill()


def test_a_full_disk_from_the_start_leaves_nothing_behind(cfg, tmp_path, tiny_bert, capsys, monkeypatch):
    """With the disk full, the staging folder's marker is created but stays empty; that folder used to stay
    forever (cleanup could not recognise it). Now the build removes it, and cleanup removes what an older
    build left that way: a staging-named folder holding nothing but a marker has nothing to lose."""
    import errno
    site = tmp_path / "site"
    stem = output._stem(site)
    (tmp_path / f"{stem}-build-11").mkdir()  # left by an older build: an empty marker, nothing else
    (tmp_path / f"{stem}-build-11" / output.MARKER).write_text("")
    (tmp_path / f"{stem}-build-12").mkdir()  # the folder made, then killed before the marker
    person = tmp_path / f"{stem}-build-13"  # the same name, but a person's file in it: not ours to take
    person.mkdir()
    (person / "notes.txt").write_text("precious")

    def full(folder, out):
        (folder / output.MARKER).touch()
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / output.MARKER))
    monkeypatch.setattr(output, "_mark", full)
    assert gen(cfg, site, tiny_bert) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [person.name, "s.yaml"]
    assert (person / "notes.txt").read_text() == "precious"


@pytest.mark.slow
def test_a_folder_nested_deep_inside_the_site_is_named_not_walked(cfg, tmp_path, tiny_bert, capsys):
    """1,500 folders one inside the other (os.walk recursed into them: a RecursionError traceback): the
    first folder is named, and nothing below it is entered."""
    site = tmp_path / "site"
    assert gen(cfg, site, tiny_bert) == 0
    deep = site / "drafts"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(1500):  # relative to a folder fd: no path grows past the system's limit
            os.mkdir("a", dir_fd=fd)
            fd, old = os.open("a", os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    try:
        assert gen(cfg, site, tiny_bert) == 2
        assert capsys.readouterr().err.endswith(f"error: {deep} was not made by this tool: move it out of {site}, "
                                                "which every build replaces whole\n")
    finally:  # pytest's own clean-up (shutil.rmtree) would recurse as deep: peel the folders off one by one
        while (deep / "a").is_dir():
            os.rename(deep / "a", tmp_path / "peeled")
            deep.rmdir()
            os.rename(tmp_path / "peeled", deep)
        deep.rmdir()


def test_a_link_planted_as_the_lock_file_is_not_followed(cfg, tmp_path, tiny_bert, capsys):
    site = tmp_path / "site"
    target = tmp_path / "elsewhere" / "created-by-the-build"
    target.parent.mkdir()
    (tmp_path / f"{output._stem(site)}.lock").symlink_to(target)
    assert gen(cfg, site, tiny_bert) == 1
    assert "could not write the site" in capsys.readouterr().err and not target.exists()
