"""Data: the ImageNet reader and index, VOC boxes, the synthetic ImageNet look-alike, and the rows a pass reads."""
