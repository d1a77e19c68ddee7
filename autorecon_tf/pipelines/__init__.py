"""Whole jobs, each resumable after a kill: teacher training, generator search, compression.

A pipeline checks its config, builds the models and trainers (``trainers/``), fits them
with checkpoints and writes its artifacts and records (``utils/records.py``); the tools
are thin wrappers around ``train_teacher``, ``run_search`` and ``run_compression``.
"""
