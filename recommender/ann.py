"""IVF (inverted file) index for approximate cosine top-k over dense unit vectors, on faiss.

k-means partitions the vectors into ``nlist`` cells; a query reads only the ``nprobe`` cells
whose centroids are nearest. Profile vectors are averages and sit between clusters, where
graph indexes (HNSW) recall poorly; an IVF with a modest ``nprobe`` keeps recall high while
reading a small share of the vectors (see ``bench/recommend.py`` for measured figures).

Why faiss (``IndexIVFFlat``, inner product): it replaced a hand-written IVF (scikit-learn
``MiniBatchKMeans`` + numpy) that had lower recall at the same ``nprobe`` (its cells were less
balanced) and was several times slower per query; faiss trains spherical k-means with a
fixed seed and scans the cells' contiguous vectors with SIMD. Rows are numbered as the
vectors were given to :meth:`IVFIndex.fit` and then :meth:`IVFIndex.with_added`, i.e. they are
the rows of ``ItemIndex.dense_``.

Memory: ``IndexIVFFlat`` keeps its own float32 copy of the vectors (n x d x 4 bytes beside
``ItemIndex.dense_``; 100,000 x 384 is about 150 MB).
"""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

__all__ = ["IVF_FILE", "IVFIndex"]

IVF_FILE = "ivf.faiss"  # in the model's ``index/`` directory, faiss's own format
_OLD_FILES = ("ivf_centroids.npy", "ivf_assign.npy")  # the hand-written IVF's files (before faiss)
_NO_ROWS = np.zeros(0, dtype=np.int64)

log = logging.getLogger("pufa.ann")


def _one_thread() -> None:
    """One OpenMP thread for the calling thread's faiss work.

    A query is one vector served on a request's own thread, and the server has two cores shared
    by concurrent requests: splitting a query over OpenMP threads would only add thread wake-ups,
    spin-waiting and oversubscription; one thread per query lets throughput scale with requests.
    libgomp keeps this setting per calling thread (threads started later still default to every
    core), so it is set on each search rather than once at import.
    """
    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)


def _ivf_flat(index: faiss.Index, where: str) -> faiss.IndexIVFFlat:
    if not isinstance(index, faiss.IndexIVFFlat) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(f"{where}: not an inner-product faiss IndexIVFFlat")
    return index


def _as_query(query: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)


class IVFIndex:
    """Approximate inner-product top-k over L2-normalised vectors (``faiss.IndexIVFFlat``).

    ``nlist`` defaults to ``2 * sqrt(n)`` cells (at most n); ``random_state`` seeds k-means, so
    the same vectors always give the same cells.
    """

    def __init__(self, nlist: int | None = None, random_state: int = 0) -> None:
        self.nlist = nlist
        self.random_state = random_state
        self.index_: faiss.IndexIVFFlat | None = None
        # The rows of each cell, cell after cell (a read-only copy of faiss's inverted lists'
        # ids, 8 bytes a row): ``candidates`` then slices numpy instead of calling into faiss
        # once per cell.
        self._cell_rows = _NO_ROWS
        self._cell_start = np.zeros(1, dtype=np.int64)

    # -- building ------------------------------------------------------------------------------
    def fit(self, vectors: np.ndarray) -> IVFIndex:
        """Train the cells on these vectors and add them as rows 0..n-1."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = x.shape
        if n == 0:
            raise ValueError("an IVF needs at least one vector")
        nlist = min(self.nlist or max(1, int(2 * np.sqrt(n))), n)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        # Inner product makes faiss's k-means spherical (unit centroids), as cosine wants.
        index.cp.seed = self.random_state
        # 20 k-means rounds, not faiss's 10: on 60,000 loosely clustered 384-d vectors recall@10
        # at nprobe 20 went from 0.815 to 0.822 for about a second more of build time.
        index.cp.niter = 20
        # About sqrt(n)/2 vectors a cell: below ~6,000 vectors that is under faiss's advisory
        # 39 per centroid, which it only reports on stderr; the cells are still fine.
        index.cp.min_points_per_centroid = 1
        index.train(x)
        index.add(x)
        self._set_index(index)
        return self

    def with_added(self, vectors: np.ndarray) -> IVFIndex:
        """A new index with appended rows (their row numbers continue the existing ones), each
        put in its nearest cell without retraining. This index is left untouched, so requests
        searching it are never disturbed (the copy costs one memcpy of the stored vectors)."""
        index = self._require()
        out = IVFIndex(self.nlist, self.random_state)
        clone = _ivf_flat(faiss.clone_index(index), "clone")
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, index.d)
        if x.shape[0]:
            clone.add(x)
        out._set_index(clone)
        return out

    # -- reading -------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Rows held."""
        return int(self._require().ntotal)

    @property
    def nlist_(self) -> int:
        """Cells trained."""
        return int(self._require().nlist)

    def candidates(self, query: np.ndarray, nprobe: int) -> np.ndarray:
        """Rows in the ``nprobe`` cells nearest to the query (unsorted)."""
        index = self._require()
        _one_thread()
        nprobe = max(1, min(nprobe, index.nlist))
        _, cells = index.quantizer.search(_as_query(query), nprobe)
        start, rows = self._cell_start, self._cell_rows
        parts = [rows[start[c]:start[c + 1]] for c in cells[0] if c >= 0]
        return np.concatenate(parts) if parts else _NO_ROWS

    def search(self, vectors: np.ndarray, query: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` rows of the ``nprobe`` nearest cells, best first, with their scores.

        ``vectors`` are the rows the index numbers (``ItemIndex.dense_``). The returned scores are
        ``vectors[rows] @ query``, exactly as an exact scan scores them, also for an item whose
        vector was replaced after it was added (faiss finds it by the vector it was given).
        """
        index = self._require()
        if k <= 0:
            return _NO_ROWS, np.zeros(0, dtype=np.float32)
        _one_thread()
        params = faiss.SearchParametersIVF()  # per call: concurrent searches may differ in nprobe
        params.nprobe = max(1, min(nprobe, index.nlist))
        _, labels = index.search(_as_query(query), k, params=params)
        rows = labels[0]
        rows = rows[rows >= 0]  # -1 pads when the cells read hold fewer than k rows
        if rows.size == 0:
            return _NO_ROWS, np.zeros(0, dtype=np.float32)
        scores = vectors[rows] @ query
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the index to ``directory / IVF_FILE`` in faiss's own format."""
        faiss.write_index(self._require(), str(directory / IVF_FILE))

    @classmethod
    def load(cls, directory: Path) -> IVFIndex | None:
        """The IVF saved in ``directory``, or None where none was saved.

        A model built by the hand-written IVF (``ivf_centroids.npy``) also gives None, with a
        warning: the engine then ranks by the exact scan (exact results, slower on a large
        catalogue) until ``pufa build`` writes the faiss index, rather than refusing the model.
        """
        path = directory / IVF_FILE
        if not path.exists():
            if any((directory / f).exists() for f in _OLD_FILES):
                log.warning("%s: IVF in the format before faiss; using the exact scan until the "
                            "model is rebuilt", directory)
            return None
        index = _ivf_flat(faiss.read_index(str(path)), str(path))
        ivf = cls(int(index.nlist))
        ivf._set_index(index)
        return ivf

    def _set_index(self, index: faiss.IndexIVFFlat) -> None:
        invlists = index.invlists
        if invlists is None:
            raise ValueError("IndexIVFFlat without inverted lists")
        sizes = np.array([invlists.list_size(c) for c in range(index.nlist)], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        rows = np.empty(int(start[-1]), dtype=np.int64)
        for c in np.flatnonzero(sizes).tolist():
            # In-memory lists (what training and read_index give) own their ids: the pointer
            # needs no release_ids.
            rows[start[c]:start[c + 1]] = faiss.rev_swig_ptr(invlists.get_ids(c), int(sizes[c]))
        self.index_, self._cell_rows, self._cell_start = index, rows, start

    def _require(self) -> faiss.IndexIVFFlat:
        if self.index_ is None:
            raise RuntimeError("IVFIndex is not fitted")
        return self.index_
