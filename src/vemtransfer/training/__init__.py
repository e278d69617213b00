"""Making and scoring models: pretraining, fine-tuning and training from scratch (one loop,
selected on validation) and evaluation on a test split."""
