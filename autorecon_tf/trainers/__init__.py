"""Custom-``train_step`` trainers (stage-1 generator search, stage-2 compression, plain distillation), their callbacks and optimisers."""
