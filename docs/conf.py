import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "sparsecode"
author = "sparsecode developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.extlinks",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
# Cross-links to other projects need the network; enable with SPARSECODE_DOCS_ONLINE=1.
intersphinx_mapping = {} if not os.environ.get("SPARSECODE_DOCS_ONLINE") else {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
html_theme = "alabaster"
exclude_patterns = ["_build"]

# ``:doi:`10.1000/xyz``` in docstrings (works offline).
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}
