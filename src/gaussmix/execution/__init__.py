"""Execution: where blocks of rows come from and how their statistics are summed.

In memory, blocks are row chunks of an array (:func:`map_blocks_sum`); out of
core, a :class:`BlockSource` reads them from a ``.npy``, Parquet or CSV file;
distributed, a :class:`DaskSource` maps them over a Dask array's blocks and
tree-reduces. The fit engine only ever calls :func:`map_blocks_sum`.
"""

from .chunks import (
    RowSlices,
    default_chunk_size,
    iter_slices,
    map_blocks,
    map_blocks_sum,
    map_rows,
    parallel,
    resolve_chunk_size,
    resolve_n_jobs,
    weighted_mean_variance,
)
from .sources import (
    ArraySource,
    BlockSource,
    CSVSource,
    NpySource,
    ParquetSource,
    as_source,
    is_block_input,
)

__all__ = [
    "RowSlices",
    "ArraySource",
    "BlockSource",
    "CSVSource",
    "NpySource",
    "ParquetSource",
    "as_source",
    "default_chunk_size",
    "is_block_input",
    "iter_slices",
    "map_blocks",
    "map_blocks_sum",
    "map_rows",
    "parallel",
    "resolve_chunk_size",
    "resolve_n_jobs",
    "weighted_mean_variance",
]
