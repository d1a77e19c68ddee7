"""LiteRT/TFLite export of the low-bit student: conversion, runtime, parity, grid check, latency, report."""

from autorecon_tf.export.convert import convert_student
from autorecon_tf.export.runtime import evaluate_tflite, make_interpreter, run_tflite

__all__ = ["convert_student", "evaluate_tflite", "make_interpreter", "run_tflite"]
