"""Build the BERT attention gallery: python generate.py [CONFIG] [--out DIR] [--model ID_OR_PATH] [--top-k N]

The command line lives in bertgallery/cli.py (also installed as the `bert-gallery` command)."""
if __name__ == "__main__":
    import signal
    import sys

    def _stopped(signum, frame):  # until the command line sets its own: importing it takes a second or more
        sys.stderr.write(f"stopped by {signal.Signals(signum).name}: the previous site is unchanged\n")
        sys.exit(128 + signum)

    for _name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, _name):
            signal.signal(getattr(signal, _name), _stopped)
    try:
        from bertgallery.cli import run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the previous site is unchanged\n")
        sys.exit(130)
    run()
else:
    from bertgallery.cli import main, run  # noqa: F401 - main: for tests and scripts that call it
