"""The command line: python generate.py [CONFIG] [--out DIR] [--model ID_OR_PATH] [--top-k N] ...

Exit status 0 for a built site, 2 for a mistake in the input, 1 when the machine stops us (a full disk, a
folder we may not write, another build holding the output, a port in use), 130 on Ctrl-C, 143 on SIGTERM
(129 on SIGHUP). Every failure is one line on standard error.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import sys
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from . import build, config, model, output
from .config import ConfigError

PAGES_LIMIT = 10**9  # bytes: GitHub Pages publishes sites up to 1 GB
# bytes of the live page's model that every reader downloads before the first sentence: the offline model's
# 38 MB pass; DistilBERT-base's 114 MB and BERT-base's 191 MB are minutes and much of a data plan on a phone,
# and GitHub warns about files over 50 MB when they are pushed
LIVE_WARNING = 50_000_000


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds above 0 and at most 3600") from None
    return value


class PairAction(argparse.Action):
    """--pair SENTENCE: the second segment of the --text just before it (args.pairs[k] is the pair of
    args.text[k], None for none)."""

    def __call__(self, parser, namespace, value, option_string=None):
        given = namespace.text or []
        pairs = (namespace.pairs or []) + [None] * (len(given) - len(namespace.pairs or []))
        if not given:
            parser.error("--pair gives the --text before it a second segment: put a --text first")
        if given[-1] == "-":
            parser.error("--pair cannot follow --text -: on standard input a tab parts a sentence from its pair")
        if pairs[-1] is not None:
            parser.error(f"--text {len(given)} has two --pair; a sentence has at most two segments")
        pairs[-1] = value
        namespace.pairs = pairs


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line, like every other mistake, instead of the usage text and the error."""
        self.exit(2, f"error: {' '.join(message.split())} (python generate.py --help lists the options)\n")


def parse_args(argv=None) -> argparse.Namespace:
    ap = Parser(
        prog="generate.py",
        description="Predict every [MASK] in the sentences of CONFIG with a BERT masked-language model, draw "
                    "every attention head as a PNG, and write a static HTML gallery you can open from disk.")
    ap.add_argument("config", nargs="?", type=Path,
                    help="YAML file with 'model', 'top_k' and 'sentences' (default: sentences.yaml)")
    ap.add_argument("--text", action="append", metavar="SENTENCE",
                    help="a sentence with [MASK], instead of CONFIG (repeat it for several; '-' reads them from "
                         "standard input, one a line, a tab before a line's second segment); implies --print")
    ap.add_argument("--pair", action=PairAction, metavar="SENTENCE", dest="pairs",
                    help="the second segment of the --text before it, as BERT reads a pair of sentences: "
                         "[CLS] TEXT [SEP] PAIR [SEP]")
    ap.add_argument("--print", nargs="?", const="text", choices=("text", "json"), dest="print_as",
                    help="print the predictions on standard output: the top filled-in sentences of each mask "
                         "(text, the default) or one JSON object per sentence (json)")
    ap.add_argument("--out", default=Path("site"), type=Path, help="folder for the gallery (default: site)")
    ap.add_argument("--model", action="append",
                    help="hub id (e.g. bert-base-uncased), a local model folder, 'offline' or 'minilm'; repeat it "
                         f"for several models in one gallery (at most {config.MAX_MODELS}); replaces 'model' or "
                         "'models' in CONFIG")
    ap.add_argument("--top-k", type=int, help="how many ranked predictions per mask; overrides 'top_k' in CONFIG")
    ap.add_argument("--no-fallback", action="store_true",
                    help="fail instead of using the offline model when the hub model cannot be downloaded")
    ap.add_argument("--hub-timeout", type=seconds, default=model.HUB_TIMEOUT, metavar="SECONDS",
                    help="how long to wait for the Hugging Face hub to answer before taking it as unreachable "
                         f"(default {model.HUB_TIMEOUT:g})")
    ap.add_argument("--live", action="store_true",
                    help="add a 'Try your own sentence' page that runs the model in the reader's browser (the "
                         "model 'live' names in CONFIG, else the gallery's); WordPiece models only (BERT, "
                         "DistilBERT, offline)")
    ap.add_argument("--force", action="store_true", help="rebuild every sentence, even unchanged ones")
    ap.add_argument("--allow-pickle", action="store_true",
                    help="allow loading a local model that only has pickle weights (pytorch_model.bin); "
                         "pickle files can run code, so only use this for models you trust")
    ap.add_argument("--serve", action="store_true",
                    help="after building, serve the site on http://127.0.0.1:PORT until Ctrl-C (a preview; the "
                         "site also works opened straight from disk)")
    ap.add_argument("--port", type=port, default=8000, help="port for --serve (default 8000; 0 picks a free one)")
    ap.add_argument("--no-wait", action="store_true",
                    help="fail at once, instead of waiting, when another build is writing the same --out")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where the model runs: auto (a GPU when torch sees one; the default), cpu or cuda")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    return ap.parse_args(argv)


class Stopped(BaseException):
    """SIGTERM or SIGHUP: the build ends as on Ctrl-C (a BaseException, so that no `except Exception` that
    turns a library's failure into one line takes it for one)."""

    def __init__(self, signum: int):
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def stopped_by_signals():
    """SIGTERM (kill, systemd, docker stop) and SIGHUP (a closed terminal) end the build as Ctrl-C does: the
    staging folder goes, the previous site stays, one line says so. Only the main thread can catch signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    old = {s: signal.signal(s, _stop) for s in wanted}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def main(argv=None) -> int:
    args = parse_args(argv)
    with stopped_by_signals():
        try:
            return _main(args)
        except Stopped as e:
            print(f"stopped by {signal.Signals(e.signum).name}: the previous site is unchanged", file=sys.stderr)
            return 128 + e.signum
        except BrokenPipeError:  # generate.py --text - | head -1: the reader has what it wanted
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 141  # as a process killed by SIGPIPE
        except OSError as e:  # _main's own OSErrors are caught there: this is standard output (a full disk)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            print(f"error: could not write to standard output: {e.strerror or e}; the site itself is built",
                  file=sys.stderr)
            return 1


def _main(args: argparse.Namespace) -> int:
    printing = args.print_as or ("text" if args.text else None)
    say = sys.stderr if printing else sys.stdout  # with --print, standard output carries the predictions only
    try:
        for what, given in (("CONFIG", args.config), ("--out", args.out), *(("--model", m) for m in args.model or ())):
            if given is not None:  # a name Python kept as surrogates could not be shown or written in a page
                config.check_unicode(str(given), what)
        if args.pairs and not args.text:
            raise ConfigError("--pair gives the --text before it a second segment: put a --text first")
        if args.text and args.config:
            raise ConfigError(f"give either CONFIG ({args.config}) or --text, not both")
        cfg = config.from_texts(texts(args.text, args.pairs)) if args.text else \
            config.load(args.config or Path("sentences.yaml"))
        if args.model:
            if len(args.model) > config.MAX_MODELS:
                raise config.too_many_models(len(args.model), f"--model {args.model[config.MAX_MODELS]}")
            cfg.models = [config.check_model(m, "--model") for m in args.model]
        if args.top_k is not None:
            config.check_top_k(args.top_k, "--top-k")
            cfg.top_k = args.top_k
        if args.live and cfg.live is None:
            cfg.live = ""  # the gallery's model
        options = build.Options(fallback=not args.no_fallback, force=args.force, allow_pickle=args.allow_pickle,
                                progress=not args.quiet, wait=not args.no_wait, device=args.device,
                                hub_timeout=args.hub_timeout)
        summary = build.build(cfg, args.out, options)
    except ConfigError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a folder we may not write: not a bug, but not the input's fault either
        if args.debug:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: could not write the site{where}: {e.strerror or e}; the previous site is unchanged",
              file=sys.stderr)
        return 1
    except (output.Busy, output.Changed, output.CannotWrite) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenProcessPool:
        print("error: a process drawing the pictures ended unexpectedly (out of memory?); the previous site is "
              "unchanged", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the previous site is unchanged", file=sys.stderr)
        return 130
    if printing == "json":
        for result in summary.results:
            data = result.to_json(summary.model)
            print(json.dumps({k: v for k, v in data.items() if k not in ("heads", "syntax")}, ensure_ascii=False))
    elif printing:
        print("\n\n".join(result.predictions() for result in summary.results))
    live = f", of which the live page's model {summary.live_bytes / 1e6:.1f} MB" if summary.live_bytes else ""
    if summary.bytes is None:
        print(f"{summary.sentences} sentences up to date ({summary.seconds:.1f} s); open {summary.index}", file=say)
    elif summary.rebuilt == 0 and not summary.corpus:
        print(f"rewrote the pages of {summary.sentences} sentences (none needed the model) in "
              f"{summary.seconds:.1f} s ({summary.bytes / 1e6:.1f} MB{live}); open {summary.index}", file=say)
    else:
        counted = f" and counted {summary.corpus:,} corpus sentences" if summary.corpus else ""
        runs = len(summary.models)
        built = f"{summary.rebuilt} of {summary.sentences} sentences" if runs == 1 else \
            f"{summary.rebuilt} of {summary.sentences * runs} runs ({summary.sentences} sentences × {runs} models)"
        with_ = ", ".join(m.name for m in summary.models)
        print(f"built {built}{counted}, {summary.images} images, with {with_} in {summary.seconds:.1f} s "
              f"({summary.bytes / 1e6:.1f} MB{live}); open {summary.index}", file=say)
        if summary.bytes > PAGES_LIMIT:
            print(f"warning: the site is {summary.bytes / 1e9:.2f} GB; GitHub Pages publishes sites up to 1 GB "
                  "(fewer sentences, or a model with fewer heads, make it smaller)", file=sys.stderr)
    if summary.bytes is not None and summary.live_bytes > LIVE_WARNING:
        print(f"warning: the live page's model is {summary.live_bytes / 1e6:.0f} MB, which every reader downloads "
              f"before their first sentence: past {LIVE_WARNING // 1_000_000} MB that takes minutes and much of a "
              "data plan on a phone; a lighter model suits the page better ('live: distilbert-base-uncased', "
              "114 MB, or 'live: offline', 38 MB)", file=sys.stderr)
    if args.serve:
        return serve(summary.index.parent, args.port, say)
    return 0


def run() -> None:
    """The bert-gallery command: the same as python generate.py."""
    code = [1]  # an exception that escapes main: Python's own code for it
    atexit.register(_end, code)  # first registered, so it runs last, after every library's own exit handler
    try:
        code[0] = main()
    except SystemExit as e:  # argparse's --help (0) and its usage errors (2)
        code[0] = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        raise
    sys.exit(code[0])


def _end(code: list[int]) -> None:
    """The process ends without the interpreter's teardown: after a build that imported torch, freeing every
    module's objects and running libtorch's destructors took 5 s, and 18 s on the loaded 2-core machine, after
    the site was done. Everything is written and closed by then; only the standard streams are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code[0])


def texts(given: list[str], pairs: list[str | None] | None = None) -> list[config.Given]:
    """The --text sentences, each with its --pair (None: none); '-' stands for the lines of standard input
    (blank ones and # comments skipped; a tab before a line's pair)."""
    out = []
    pairs = (pairs or []) + [None] * (len(given) - len(pairs or []))
    for k, (text, pair) in enumerate(zip(given, pairs), start=1):
        if text == "-":
            stdin = sys.stdin
            if stdin is None:
                raise ConfigError("--text -: there is no standard input to read")
            out += config.stdin_texts(getattr(stdin, "buffer", stdin))  # bytes: a non-UTF-8 line is named
        else:
            out.append(config.Given(text, pair, f"--text {k}" if len(given) > 1 else "--text"))
    return out


def serve(folder: Path, port: int, say=sys.stdout) -> int:
    """Python's own static file server, on this machine only, until Ctrl-C (exit 0) or SIGTERM (143). A port
    in use or not ours to take is the machine's doing (exit 1)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would bury the URL
            pass

    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(Quiet, directory=str(folder)))
    except OSError as e:
        print(f"error: cannot serve on port {port}: {e.strerror}; try another with --port", file=sys.stderr)
        return 1
    print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", file=say, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    except Stopped as e:
        return 128 + e.signum  # nothing was interrupted: no message
    finally:
        server.server_close()
    return 0

