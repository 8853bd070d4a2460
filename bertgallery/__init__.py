"""BERT attention gallery: what a masked-language model predicts for [MASK], and where its heads look.

`python generate.py` (or the `bert-gallery` command) builds the static site; `bertgallery.analyse(...)` does one
sentence in a notebook or script (bertgallery/api.py).
"""
from pathlib import Path

__version__ = "0.4.0"


def data_folder(name: str, holding: str) -> Path:
    """templates/ or models/: beside the package in the repository (where people look for them), inside it
    when installed with pip; the one that holds the file `holding`."""
    here = Path(__file__).resolve().parent
    return next((folder for folder in (here / name, here.parent / name) if (folder / holding).is_file()),
                here.parent / name)


def __getattr__(name):  # `from bertgallery import analyse` without importing the model code for the command line
    if name == "analyse":
        from .api import analyse
        return analyse
    raise AttributeError(f"module 'bertgallery' has no attribute {name!r}")
