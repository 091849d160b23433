"""Built-in data: Old Faithful, iris, and a synthetic set where k-means fails."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np


def _read_csv(name: str) -> tuple[list[str], list[list[str]]]:
    with resources.files("gaussmix").joinpath("data", name).open("r", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def load_faithful() -> tuple[np.ndarray, list[str]]:
    """Old Faithful eruptions: 272 rows of (eruption minutes, waiting minutes).

    Returns
    -------
    X : ndarray of shape (272, 2)
    columns : list of str
    """
    header, rows = _read_csv("faithful.csv")
    return np.array(rows, dtype=np.float64), header


def load_iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fisher's iris: 150 x 4 measurements and species labels 0, 1, 2.

    Returns
    -------
    X : ndarray of shape (150, 4)
    y : ndarray of shape (150,)
    columns : list of str
    """
    header, rows = _read_csv("iris.csv")
    _, labels = _read_csv("iris_labels.csv")
    names = [r[0] for r in labels]
    species = sorted(set(names))
    y = np.array([species.index(s) for s in names])
    return np.array(rows, dtype=np.float64), y, header


def make_elongated(
    n_samples: int = 900, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Three 2-D clusters k-means gets wrong: long, rotated, of unequal size.

    Two thin parallel clusters lie close together (closer across than along
    their length) and a small round cluster sits to one side, so nearest-centre
    assignment cuts across the long clusters while a full-covariance GMM
    separates them.

    Parameters
    ----------
    n_samples : int, default=900
    random_state : int or None, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        True cluster of each row.
    """
    rng = np.random.default_rng(random_state)
    counts = np.floor(np.array([0.45, 0.4, 0.15]) * n_samples).astype(int)
    counts[0] += n_samples - counts.sum()
    angle = np.deg2rad(30.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    parts, labels = [], []
    # Long axis sd 2.5, short axis sd 0.5, the two 3.0 apart across and
    # staggered 1.5 along: nearer across than a cluster is long.
    for j, (c, offset) in enumerate(zip(counts[:2], ([0.0, 0.0], [1.5, 3.0]), strict=False)):
        z = rng.normal(size=(c, 2)) * np.array([2.5, 0.5])
        parts.append((z + offset) @ rot.T)
        labels.append(np.full(c, j))
    parts.append(rng.normal(size=(counts[2], 2)) * 0.6 + np.array([5.0, -3.125]))
    labels.append(np.full(counts[2], 2))
    return np.vstack(parts), np.concatenate(labels)
