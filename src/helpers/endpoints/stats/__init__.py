"""General statistics for biomarkers, agreement and diagnostic accuracy.

Used by the HER2-CTC screening notebook (HER2 FISH on CTCs: reproducibility, FISH vs IF) and the
everolimus/NK notebooks (granzyme B, NK flow markers, rpS6). Samples are small (10–40 patients),
so exact and distribution-free methods are preferred; every random procedure takes a ``seed`` and
uses :func:`numpy.random.default_rng`. Above stated sizes (pooled or phase III cohorts) the rank
methods and the Spearman CI switch to their asymptotic forms, and ``method`` says so (table in
docs/architecture.md, "Large samples").

Unless stated otherwise each ``compute_`` function returns an *estimate table* (see
``docs/architecture.md``): one row per estimate with the columns ``parameter``, ``n``, ``N``,
``estimate``, ``ci_lower``, ``ci_upper``, ``ci_level``, ``method``, ``p_value`` and ``note`` (empty
string unless something about the row needs saying, e.g. an unattainable exact CI).
"""

from helpers.endpoints.stats._common import ESTIMATE_COLUMNS
from helpers.endpoints.stats.agreement import (
    METHOD_BA,
    METHOD_CP,
    METHOD_KAPPA,
    METHOD_ROC,
    BlandAltmanResult,
    DiagnosticAccuracyResult,
    RocResult,
    compute_bland_altman,
    compute_cohen_kappa,
    compute_cross_table,
    compute_diagnostic_accuracy,
    compute_icc,
    compute_roc,
)
from helpers.endpoints.stats.association import (
    METHOD_FISHER,
    METHOD_MANN_WHITNEY,
    METHOD_MANN_WHITNEY_LARGE,
    compute_descriptives,
    compute_fisher_or,
    compute_mann_whitney,
    compute_spearman_bootstrap,
)
from helpers.endpoints.stats.censored import (
    METHOD_TOBIT_GMR,
    CensoredNormalFit,
    compute_censored_gmr,
    compute_censored_normal_fit,
    compute_conventional_fe_cov,
)
from helpers.endpoints.stats.cluster import (
    METHOD_CLUSTER_BOOTSTRAP,
    SumStatistic,
    auc_mann_whitney,
    auc_statistic,
    cohen_kappa_binary,
    compute_cluster_bootstrap,
    compute_cluster_bootstrap_sums,
    icc_2_1,
    icc_statistic,
    kappa_statistic,
    negative_agreement,
    negative_agreement_statistic,
    positive_agreement,
    positive_agreement_statistic,
    proportion_statistic,
)
from helpers.endpoints.stats.paired import (
    METHOD_GMR,
    METHOD_MIXED,
    METHOD_MIXED_DIFF,
    METHOD_PAIRED,
    compute_fdr,
    compute_geometric_mean_ratio,
    compute_marker_changes,
    compute_mixed_model,
    compute_paired_change,
)

__all__ = [
    "ESTIMATE_COLUMNS",
    "METHOD_BA",
    "METHOD_CLUSTER_BOOTSTRAP",
    "METHOD_CP",
    "METHOD_FISHER",
    "METHOD_GMR",
    "METHOD_KAPPA",
    "METHOD_MANN_WHITNEY",
    "METHOD_MANN_WHITNEY_LARGE",
    "METHOD_MIXED",
    "METHOD_MIXED_DIFF",
    "METHOD_PAIRED",
    "METHOD_ROC",
    "METHOD_TOBIT_GMR",
    "BlandAltmanResult",
    "CensoredNormalFit",
    "DiagnosticAccuracyResult",
    "RocResult",
    "SumStatistic",
    "auc_mann_whitney",
    "auc_statistic",
    "cohen_kappa_binary",
    "compute_bland_altman",
    "compute_censored_gmr",
    "compute_censored_normal_fit",
    "compute_cluster_bootstrap",
    "compute_cluster_bootstrap_sums",
    "compute_cohen_kappa",
    "compute_conventional_fe_cov",
    "compute_cross_table",
    "compute_descriptives",
    "compute_diagnostic_accuracy",
    "compute_fdr",
    "compute_fisher_or",
    "compute_geometric_mean_ratio",
    "compute_icc",
    "compute_mann_whitney",
    "compute_marker_changes",
    "compute_mixed_model",
    "compute_paired_change",
    "compute_roc",
    "compute_spearman_bootstrap",
    "icc_2_1",
    "icc_statistic",
    "kappa_statistic",
    "negative_agreement",
    "negative_agreement_statistic",
    "positive_agreement",
    "positive_agreement_statistic",
    "proportion_statistic",
]
