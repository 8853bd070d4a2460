"""BERT attention gallery: config -> model run -> render -> analyse -> site (see README.md)."""
