"""bizmodel: fine-tune a transformer, serve it, and keep its business model sustainable.

The Python API is the product; the ``bizmodel`` CLI and the HTTP server are thin shells over
it. Capabilities live in subpackages: :mod:`bizmodel.finetune`, :mod:`bizmodel.stats`,
:mod:`bizmodel.growth`, :mod:`bizmodel.economics`, :mod:`bizmodel.optimize`,
:mod:`bizmodel.registry`, :mod:`bizmodel.store`, :mod:`bizmodel.server`,
:mod:`bizmodel.monitor`, :mod:`bizmodel.report`.
"""

__version__ = "0.1.0"
