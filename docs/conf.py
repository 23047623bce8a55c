import importlib.util
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

# Math renders offline: MathJax 3 (3.2.2) is bundled by the PyPI package
# sphinx-mathjax-offline (in the docs extra), which points ``mathjax_path`` at
# ``_static/mathjax/tex-chtml.js`` and copies MathJax (with its fonts) into the build.
# sphinx.ext.imgmath would need latex and dvipng, which these machines do not have;
# MathJax from a CDN (Sphinx's default) renders nothing without a network.
if importlib.util.find_spec("sphinx-mathjax-offline") is None:
    raise RuntimeError(
        "the docs render math offline with sphinx-mathjax-offline: "
        "pip install 'sphinx-mathjax-offline' (or '.[docs]')")

project = "sparsecode"
author = "sparsecode developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # bundled MathJax 3: sets mathjax_path to the local copy
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
