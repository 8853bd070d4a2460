"""Build the BERT attention gallery: python generate.py [CONFIG] [--out DIR] [--model ID_OR_PATH] [--top-k N]

The command line lives in bertgallery/cli.py (also installed as the `bert-gallery` command)."""
if __name__ == "__main__":
    import os
    import signal
    import sys

    def _stopped(signum, frame):  # until the command line sets its own: importing it takes a second or more
        # nothing is written yet, so leave at once: an exception raised here could land inside a library's
        # import code, which may catch it (under load, Ctrl-C at that moment once let the build go on)
        line = ("interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}")
        sys.stderr.write(f"{line}: the previous site is unchanged\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, _name):
            signal.signal(getattr(signal, _name), _stopped)
    from bertgallery.cli import run
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the command line stops on KeyboardInterrupt
    run()
else:
    from bertgallery.cli import main, run  # noqa: F401 - main: for tests and scripts that call it
