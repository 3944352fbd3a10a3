"""open-toolace: an open, runnable implementation of the ToolACE family of tool-learning methods.

Layers (see docs/architecture.md): tools/calls/checks (formats and the rule checker), data (records and
adapters), prompts, models + generation backends, tasks + training, evaluation (BFCL), synthesis,
self-evolution and the end-to-end run.
"""

__version__ = "0.1.0"
