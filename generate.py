"""Build the BERT attention gallery: python generate.py [CONFIG] [--out DIR] [--model ID_OR_PATH] [--top-k N]

The command line lives in bertgallery/cli.py (also installed as the `bert-gallery` command)."""
from bertgallery.cli import main, run  # noqa: F401 - main: for tests and scripts that call it

if __name__ == "__main__":
    run()
