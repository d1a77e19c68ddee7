"""LiteRT/TFLite export of the low-bit student: conversion, parity, grid check, latency."""

from autorecon_tf.export.tflite import convert_student, evaluate_tflite, make_interpreter, run_tflite

__all__ = ["convert_student", "evaluate_tflite", "make_interpreter", "run_tflite"]
