import importlib.util
import os
import sys

# The package documented (and run by the gallery) is the checkout's, ``..``, unless
# SPARSECODE_DOCS_INSTALLED=1 asks for the installed one (CI builds the docs of the
# installed wheel, whose kernels JIT-compile into site-packages, not into the checkout).
if os.environ.get("SPARSECODE_DOCS_INSTALLED") != "1":
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
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
# Cross-links to other projects need the network; enable with SPARSECODE_DOCS_ONLINE=1.
intersphinx_mapping = {} if not os.environ.get("SPARSECODE_DOCS_ONLINE") else {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
html_theme = "pydata_sphinx_theme"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_title = "sparsecode"
exclude_patterns = ["_build"]

# The gallery: every ``examples/plot_*.py`` is run at build time (figures and printed
# output captured, well under 5 minutes in all on a 2-core machine); ``sg_execution_times``
# lists the time of each. A failing example fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "reference_url": {"sparsecode": None},   # links from the code to the API pages
    "download_all_examples": False,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# ``:doi:`10.1000/xyz``` in docstrings (works offline).
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}
