"""k-means or a Gaussian mixture? Both fitted on the same data, and a measured verdict.

k-means is scored as its equivalent Gaussian mixture (``KMeans.to_gmm()``:
``EII``, equal weights), so log-likelihood and BIC put the two on one
yardstick. The verdict rests on the BIC difference; the other numbers say
*why* a GMM helps (or does not) on this data: overlapping clusters, elongated
clusters, unequal sizes, unequal spreads.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._grid import criteria, resolve_models
from ._validation import check_n_components
from .cluster import KMeans
from .covariance import get_model
from .mixture import GaussianMixture

#: Thresholds above which a measured property favours a GMM.
OVERLAP_THRESHOLD = 0.05  # share of rows with max responsibility < 0.9
CONDITION_THRESHOLD = 4.0  # λmax/λmin of a covariance: axis ratio 2
RATIO_THRESHOLD = 2.0  # largest/smallest weight, and volume det(Σ)^(1/d)
BIC_THRESHOLD = 10.0  # "very strong" evidence (Kass & Raftery 1995)


@dataclass(frozen=True)
class Reason:
    """One measured property behind the verdict.

    Attributes
    ----------
    name : str
        ``"bic"``, ``"overlap"``, ``"anisotropy"``, ``"sizes"`` or ``"spreads"``.
    value : float
        The measured number.
    threshold : float
        Value above which it favours a GMM.
    favours_gmm : bool
    text : str
        One sentence with the number.
    """

    name: str
    value: float
    threshold: float
    favours_gmm: bool
    text: str


@dataclass
class Comparison:
    """k-means and the best GMM with ``k`` components on the same data.

    Attributes
    ----------
    k : int
    kmeans : KMeans
    kmeans_gmm : GaussianMixture
        k-means as its equivalent ``EII`` mixture with equal weights.
    gmm : GaussianMixture
        Lowest-BIC mixture with ``k`` components over the covariance models tried.
    gmm_bic_by_model : dict of str to float
        BIC of each covariance model tried (NaN where the fit failed).
    labels_kmeans, labels_gmm : ndarray of shape (n_samples,)
        GMM labels are renumbered to match k-means clusters as closely as possible.
    sizes_kmeans, sizes_gmm : ndarray of shape (k,)
    ari : float
        Adjusted Rand index between the two partitions.
    ari_kmeans_truth, ari_gmm_truth : float or None
        Against known labels, when given.
    loglik_kmeans, loglik_gmm, bic_kmeans, bic_gmm : float
    n_parameters_kmeans, n_parameters_gmm : int
    delta_bic : float
        ``bic_kmeans - bic_gmm``: positive favours the GMM.
    overlap : float
        Share of rows whose largest GMM responsibility is below 0.9.
    condition_numbers : ndarray of shape (k,)
        ``λmax / λmin`` of each GMM covariance.
    weight_ratio, volume_ratio : float
        Largest over smallest GMM weight, and covariance volume ``det(Σ)^(1/d)``.
    contingency : ndarray of shape (k, k)
        Rows: k-means clusters; columns: (renumbered) GMM components.
    disagreement : float
        Share of rows the two partitions put in different (matched) clusters.
    disagreement_certainty : float
        Mean largest GMM responsibility over those rows (NaN when there are
        none): near 1, the GMM is sure and k-means' round cells cut across its
        clusters; near ``1/k``, the rows lie where clusters overlap.
    reasons : list of Reason
    verdict : {"gmm", "either", "kmeans"}
    prefer_gmm : bool

    Examples
    --------
    >>> from gaussmix import compare, make_elongated
    >>> X, _ = make_elongated(random_state=0)
    >>> result = compare(X, 3, random_state=0)
    >>> result.prefer_gmm
    True
    """

    k: int
    kmeans: KMeans
    kmeans_gmm: GaussianMixture
    gmm: GaussianMixture
    gmm_bic_by_model: dict[str, float]
    labels_kmeans: np.ndarray
    labels_gmm: np.ndarray
    sizes_kmeans: np.ndarray
    sizes_gmm: np.ndarray
    ari: float
    ari_kmeans_truth: float | None
    ari_gmm_truth: float | None
    loglik_kmeans: float
    loglik_gmm: float
    bic_kmeans: float
    bic_gmm: float
    n_parameters_kmeans: int
    n_parameters_gmm: int
    delta_bic: float
    overlap: float
    condition_numbers: np.ndarray
    weight_ratio: float
    volume_ratio: float
    contingency: np.ndarray
    disagreement: float
    disagreement_certainty: float
    reasons: list[Reason] = field(default_factory=list)
    verdict: str = "either"

    @property
    def prefer_gmm(self) -> bool:
        return self.verdict == "gmm"

    @property
    def answer(self) -> str:
        """The verdict in one sentence."""
        code = self.gmm.covariance_model_
        if self.verdict == "gmm":
            return (f"Prefer a GMM ({code}, k={self.k}): its BIC is lower than k-means' by "
                    f"{self.delta_bic:.1f}.")
        if self.verdict == "kmeans":
            return (f"k-means is enough (k={self.k}): the best GMM ({code}) does not beat its "
                    f"BIC by more than {BIC_THRESHOLD:g} (difference {self.delta_bic:.1f}).")
        return (f"Either will do (k={self.k}): the GMM ({code}) is only slightly better by BIC "
                f"(difference {self.delta_bic:.1f}).")

    def disagreements(self, limit: int = 5) -> list[str]:
        """Largest off-diagonal cells of the contingency table, as sentences."""
        out = []
        c = self.contingency
        cells = [(c[i, j], i, j) for i in range(self.k) for j in range(self.k) if i != j]
        for n, i, j in sorted(cells, reverse=True)[:limit]:
            if n == 0:
                break
            out.append(f"{n} row(s) k-means puts in cluster {i} go to GMM component {j}")
        if out:
            sure = self.disagreement_certainty
            out.append(f"the GMM's mean largest responsibility on those rows is {sure:.2f} ("
                       + ("it is sure of them: k-means' round cells cut across its clusters)"
                          if sure >= 0.9 else "they lie where the clusters overlap)"))
        return out

    def rows(self) -> list[tuple[str, str, str]]:
        """The side-by-side table: (quantity, k-means, GMM)."""
        def sizes(s: np.ndarray) -> str:
            return " ".join(str(int(v)) for v in s)

        r = [("", "k-means", f"GMM ({self.gmm.covariance_model_})"),
             ("cluster sizes", sizes(self.sizes_kmeans), sizes(self.sizes_gmm))]
        if self.ari_kmeans_truth is not None:
            r.append(("ARI vs known labels", f"{self.ari_kmeans_truth:.3f}",
                      f"{self.ari_gmm_truth:.3f}"))
        r += [("ARI k-means vs GMM", f"{self.ari:.3f}", ""),
              ("rows in different clusters", f"{self.disagreement:.1%}", ""),
              ("log-likelihood", f"{self.loglik_kmeans:.1f}", f"{self.loglik_gmm:.1f}"),
              ("free parameters", str(self.n_parameters_kmeans), str(self.n_parameters_gmm)),
              ("BIC (lower is better)", f"{self.bic_kmeans:.1f}", f"{self.bic_gmm:.1f}")]
        return r

    def summary(self) -> str:
        """Table, disagreements and the verdict with its reasons, as text."""
        rows = self.rows()
        w0 = max(len(a) for a, _, _ in rows)
        w1 = max(len(b) for _, b, _ in rows)
        lines = [f"  {a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
        dis = self.disagreements()
        if dis:
            lines += ["", "Where they disagree:"] + [f"  - {s}" for s in dis]
        lines += ["", "Should I prefer a GMM here? " + self.answer, "Reasons:"]
        for r in self.reasons:
            mark = "+" if r.favours_gmm else "-"
            lines.append(f"  {mark} {r.text}")
        return "\n".join(lines)


def _volumes_and_conditions(gm: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    k, d = gm.means_.shape
    full = get_model(gm.covariance_model_).layout.full(gm.covariances_, k, d)
    eig = np.linalg.eigvalsh(full)  # ascending, shape (k, d)
    cond = eig[:, -1] / eig[:, 0]
    vol = np.exp(np.mean(np.log(eig), axis=1))
    return vol, cond


def _match(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber labels ``b`` to agree with ``a`` as far as possible; return it and the table."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    new = np.empty(k, dtype=np.intp)
    new[cols] = rows
    return new[b], table[:, cols]


def _reasons(c: Comparison) -> tuple[list[Reason], str]:
    cmax = float(np.max(c.condition_numbers))
    overlapping = c.overlap > OVERLAP_THRESHOLD
    rs = [
        Reason("bic", c.delta_bic, BIC_THRESHOLD, c.delta_bic > BIC_THRESHOLD,
               f"BIC difference (k-means' EII equivalent minus best GMM): {c.delta_bic:.1f} "
               f"({'>' if c.delta_bic > BIC_THRESHOLD else '<='} {BIC_THRESHOLD:g} is "
               f"{'very strong' if c.delta_bic > BIC_THRESHOLD else 'not decisive'} evidence "
               "for the GMM)"),
        Reason("overlap", c.overlap, OVERLAP_THRESHOLD, overlapping,
               f"overlap: {c.overlap:.1%} of rows have largest responsibility < 0.9 ("
               + ("soft memberships carry information" if overlapping
                  else "clusters are well separated") + ")"),
        Reason("anisotropy", cmax, CONDITION_THRESHOLD, cmax > CONDITION_THRESHOLD,
               "anisotropy: covariance condition numbers "
               + ", ".join(f"{v:.1f}" for v in c.condition_numbers)
               + (" (elongated clusters; k-means assumes round ones)" if cmax > CONDITION_THRESHOLD
                  else " (clusters are nearly round)")),
        Reason("sizes", c.weight_ratio, RATIO_THRESHOLD, c.weight_ratio > RATIO_THRESHOLD,
               f"unequal sizes: largest/smallest weight {c.weight_ratio:.2f}"
               + (" (k-means favours equal-sized clusters)" if c.weight_ratio > RATIO_THRESHOLD
                  else " (sizes are similar)")),
        Reason("spreads", c.volume_ratio, RATIO_THRESHOLD, c.volume_ratio > RATIO_THRESHOLD,
               f"unequal spreads: largest/smallest volume det(Σ)^(1/d) {c.volume_ratio:.2f}"
               + (" (k-means assumes one common spread)" if c.volume_ratio > RATIO_THRESHOLD
                  else " (spreads are similar)")),
    ]
    if c.delta_bic > BIC_THRESHOLD:
        verdict = "gmm"
    elif c.delta_bic > 2.0:
        verdict = "either"
    else:
        verdict = "kmeans"
    return rs, verdict


def compare(
    X: Any,
    k: int,
    *,
    labels: Any = None,
    covariance_types: str | list[str] = "all",
    sample_weight: Any = None,
    n_init: int = 3,
    random_state: int | None = 0,
    gmm: GaussianMixture | None = None,
) -> Comparison:
    """Fit k-means and Gaussian mixtures with ``k`` clusters and weigh one against the other.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
        Number of clusters for both.
    labels : array-like of shape (n_samples,), default=None
        Known classes, to report each partition's ARI against.
    covariance_types : "all" or list of str, default="all"
        GMM covariance models tried; the lowest BIC is kept.
    sample_weight : array-like of shape (n_samples,), default=None
    n_init : int, default=3
        Initialisations per GMM (k-means gets ``max(10, n_init)``).
    random_state : int or None, default=0
    gmm : GaussianMixture, default=None
        A mixture already fitted to ``X`` with ``k`` components (e.g. the one
        :func:`gaussmix.select` chose) to weigh against k-means instead of
        fitting the covariance models.

    Returns
    -------
    Comparison
        Both fits, the side-by-side numbers and the verdict with its reasons.

    Examples
    --------
    >>> from gaussmix import compare, load_faithful
    >>> X, _ = load_faithful()
    >>> print(compare(X, 2).answer)  # doctest: +ELLIPSIS
    Prefer a GMM (...
    """
    from sklearn.metrics import adjusted_rand_score

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf; remove or impute them before comparing")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    check_n_components(k, X, "k")
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    truth = None if labels is None else np.asarray(labels)
    if truth is not None and truth.shape != (X.shape[0],):
        raise ValueError(f"labels must have shape ({X.shape[0]},), got {truth.shape}")

    km = KMeans(n_clusters=k, n_init=max(10, n_init), random_state=random_state).fit(
        X, sample_weight=w)
    km_gmm = km.to_gmm()
    by_model: dict[str, float] = {}
    best: tuple[float, GaussianMixture, dict[str, float]] | None = None
    if gmm is not None:
        if getattr(gmm, "means_", None) is None or gmm.means_.shape != (k, X.shape[1]):
            raise ValueError(f"gmm must be a GaussianMixture fitted to X with k={k} components")
        crit = criteria(gmm, X, w)
        by_model[gmm.covariance_model_] = crit["bic"]
        best = (crit["bic"], gmm, crit)
    for code in ([] if gmm is not None else resolve_models(covariance_types)):
        try:
            gm = GaussianMixture(n_components=k, covariance_type=code, n_init=n_init,
                                 random_state=random_state)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(X, sample_weight=w)
            crit = criteria(gm, X, w)
        except (ValueError, np.linalg.LinAlgError):
            by_model[code] = float("nan")
            continue
        by_model[code] = crit["bic"]
        if best is None or crit["bic"] < best[0]:
            best = (crit["bic"], gm, crit)
    if best is None:
        raise ValueError(f"no Gaussian mixture with k={k} could be fitted to this data")
    _, gm, crit_g = best
    crit_k = criteria(km_gmm, X, w)

    lab_k = km.predict(X)
    resp = gm.predict_proba(X)
    lab_g_raw = resp.argmax(axis=1)
    lab_g, table = _match(lab_k, lab_g_raw, k)
    vol, cond = _volumes_and_conditions(gm)
    wts = gm.weights_
    c = Comparison(
        k=k, kmeans=km, kmeans_gmm=km_gmm, gmm=gm, gmm_bic_by_model=by_model,
        labels_kmeans=lab_k, labels_gmm=lab_g,
        sizes_kmeans=np.bincount(lab_k, minlength=k), sizes_gmm=np.bincount(lab_g, minlength=k),
        ari=float(adjusted_rand_score(lab_k, lab_g)),
        ari_kmeans_truth=None if truth is None else float(adjusted_rand_score(truth, lab_k)),
        ari_gmm_truth=None if truth is None else float(adjusted_rand_score(truth, lab_g)),
        loglik_kmeans=crit_k["log_likelihood"], loglik_gmm=crit_g["log_likelihood"],
        bic_kmeans=crit_k["bic"], bic_gmm=crit_g["bic"],
        n_parameters_kmeans=int(crit_k["n_parameters"]),
        n_parameters_gmm=int(crit_g["n_parameters"]),
        delta_bic=float(crit_k["bic"] - crit_g["bic"]),
        overlap=float(np.mean(resp.max(axis=1) < 0.9)),
        condition_numbers=cond,
        weight_ratio=float(wts.max() / wts.min()) if wts.min() > 0 else float("inf"),
        volume_ratio=float(vol.max() / vol.min()),
        contingency=table,
        disagreement=float(np.mean(lab_k != lab_g)),
        disagreement_certainty=(float(np.mean(resp.max(axis=1)[lab_k != lab_g]))
                                if np.any(lab_k != lab_g) else float("nan")),
    )
    c.reasons, c.verdict = _reasons(c)
    return c
