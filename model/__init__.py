"""The contextual inter-modal attention multi-task model: pure torch, training, metrics, corpora."""
