"""Custom-``train_step`` trainers: stage-1 generator search, stage-2 compression (generator + student) and plain distillation."""
