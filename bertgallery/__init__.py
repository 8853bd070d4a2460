"""BERT attention gallery: what a masked-language model predicts for [MASK], and where its heads look.

`python generate.py` (or the `bert-gallery` command) builds the static site; `bertgallery.analyse(...)` does one
sentence in a notebook or script (bertgallery/api.py).
"""
__version__ = "0.4.0"


def __getattr__(name):  # `from bertgallery import analyse` without importing the model code for the command line
    if name == "analyse":
        from .api import analyse
        return analyse
    raise AttributeError(f"module 'bertgallery' has no attribute {name!r}")
