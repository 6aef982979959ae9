"""Data: the synthetic world, the digits, the DomainBed reader, splits and manifests."""

from rdmldg.data.images import load_image, to_rgb
from rdmldg.data.manifest import image_root, read_prepared, split_column
from rdmldg.data.reader import DatasetError, DatasetIndex, read_domainbed
from rdmldg.data.splits import seed_hash, split_indices

__all__ = [
    "DatasetError", "DatasetIndex", "image_root", "load_image", "read_domainbed", "read_prepared",
    "seed_hash", "split_column", "split_indices", "to_rgb",
]
