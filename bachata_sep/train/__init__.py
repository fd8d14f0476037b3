"""Training, evaluation and publishing of the instrument models: imported by their
commands (``train``, ``evaluate``, ``push``) and the benchmarks, never by ``separate``."""
