"""Trained models as files others can run: TorchScript with its ``model.json``, and bioimage.io
model packages."""
