"""RD-MLDG study: reasoning-driven multimodal LLM domain generalisation, reproducibly.

The package is the thin, tested library behind the study's notebooks. Importing it is
cheap on purpose (no torch, no transformers): submodules pull in heavy dependencies only
when they need them.
"""

__version__ = "0.1.0"
