"""Using a trained model: sliding windows and their blending, engines (PyTorch, ONNX Runtime,
OpenVINO), whole-volume prediction in blocks written as OME-Zarr, and what is measured on the
masks (meshes, morphometrics)."""
