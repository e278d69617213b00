"""The network and what defines a trained model: the RSUNet, its loss and metrics, checkpoints
(with nnU-Net-style weight transfer) and the import of published pretrained weights."""
