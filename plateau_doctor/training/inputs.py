"""What ``model.fit`` trains on: the prepared arrays in memory, or batches read from a streamed split on disk."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from plateau_doctor.config import DoctorConfig
from plateau_doctor.data.preprocess import is_streamed

# Training batches are shuffled in blocks of up to this many neighbouring rows (reshuffled
# every epoch): a batch of 1,024 rows is 8 reads, not 1,024.
SHUFFLE_BLOCK_ROWS = 128

@functools.lru_cache(maxsize=1)
def _batches_class():
    import keras

    class TrainBatches(keras.utils.PyDataset):
        """Block-shuffled training batches read from the split on disk, scaled per batch."""

        def __init__(self, x, y, batch_size, seed, to_labels, class_weight=None, index=None, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size, self.seed = x, y, int(batch_size), seed
            self.to_labels = to_labels
            self.index = np.arange(len(y), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
            self.weights = None
            if class_weight:
                self.weights = np.asarray([class_weight[c] for c in sorted(class_weight)], dtype=np.float32)
            self.epoch = 0
            self.order = self._shuffled()

        def _shuffled(self) -> np.ndarray:
            """This epoch's order: blocks of neighbouring positions, the blocks in a seeded random order."""
            rng = np.random.default_rng([self.seed, self.epoch])
            block = max(1, min(SHUFFLE_BLOCK_ROWS, self.batch_size // 8))
            n = len(self.index)
            starts = rng.permutation(np.arange(0, n, block, dtype=np.int64))
            positions = (starts[:, None] + np.arange(block)).ravel()
            return self.index[positions[positions < n]]

        def __len__(self) -> int:
            return math.ceil(len(self.index) / self.batch_size)

        def __getitem__(self, step):
            # Ascending rows make each block one read; order inside a batch does not change
            # its gradient.
            rows = np.sort(self.order[step * self.batch_size : (step + 1) * self.batch_size])
            codes = np.asarray(self.y[rows])
            x, y = self.x[rows], self.to_labels(codes)
            if self.weights is None:
                return x, y
            return x, y, self.weights[codes.astype(np.int64)]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._shuffled()

    return TrainBatches


def train_batches(data, setup, batch_size: int, seed: int):
    """A ``keras.utils.PyDataset`` over the streamed training split."""
    from plateau_doctor.training.model import labels_for_loss

    return _batches_class()(
        data.x_train,
        data.y_train,
        batch_size,
        seed,
        to_labels=functools.partial(labels_for_loss, setup=setup),
        class_weight=data.class_weight,
        index=data.train_index,
    )


def fit_inputs(data, setup, config: DoctorConfig) -> dict[str, Any]:
    """``model.fit``'s training-data arguments: the arrays in memory, or batches of the streamed split."""
    from plateau_doctor.training.model import labels_for_loss

    if is_streamed(data):
        # Class weights travel as per-row sample weights: some data adapters ignore class_weight.
        return {"x": train_batches(data, setup, config.training.batch_size, config.data.seed)}
    return {
        "x": data.x_train,
        "y": labels_for_loss(data.y_train, setup),
        "batch_size": config.training.batch_size,
        "class_weight": data.class_weight,
        "shuffle": True,
    }

