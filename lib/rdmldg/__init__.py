"""RD-MLDG study: reasoning-driven multimodal LLM domain generalisation, reproducibly.

The package is the thin, tested library behind the study's notebooks. Importing it is
cheap on purpose (no torch, no transformers): submodules pull in heavy dependencies only
when they need them.
"""

import warnings

__version__ = "0.1.0"

# Reports should show the study, not library chatter: tqdm's notice that notebook widgets are
# absent (progress goes to plain text by design).
warnings.filterwarnings("ignore", message="IProgress not found")
