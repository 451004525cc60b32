"""Mirrors of bizmodel's runs and registry in the tools teams already run: MLflow tracking and
Model Registry (:mod:`bizmodel.tracking.mlflow`) and TensorBoard curves
(:mod:`bizmodel.tracking.tensorboard`). Both are optional extras: ``bizmodel[tracking]``."""
