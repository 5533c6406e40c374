"""The training floor: data, tasks, recipes, checkpoints, supernet training (one-shot and gradient),
search on a trained supernet, rank, retraining (torchrun + DDP), ensembles."""
