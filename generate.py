"""Build the BERT attention gallery: python generate.py [CONFIG] [--out DIR] [--model ID_OR_PATH] [--top-k N]

The command line lives in bertgallery/cli.py (also installed as the `bert-gallery` command)."""
import sys

from bertgallery.cli import main

if __name__ == "__main__":
    sys.exit(main())
