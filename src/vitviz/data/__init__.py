"""Data: the ImageNet reader and index, VOC boxes, the synthetic ImageNet look-alike, and the batches of every pass."""
