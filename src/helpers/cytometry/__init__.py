"""Flow cytometry from FCS files (generic, trial-agnostic): read, compensate, transform, gate.

Modules: ``fcs_io`` (the room's only file access: FCS via FlowIO, GatingML 2.0 / FlowJo .wsp via
FlowKit), ``gating`` (a FlowKit gating strategy compiled once and applied per file with FlowKit's
primitives), ``stats`` (FlowJo-shaped long statistics, concordance with a FlowJo export), ``qc``
(events, flow rate, margin events, sheet ↔ files) and ``batch`` (a few files per task, serial or on
Dask).
"""

from helpers.cytometry.batch import (
    BatchResult,
    FileOutcome,
    GatingSettings,
    derive_files_per_task,
    format_progress,
    gate_fcs_files,
    process_fcs_file,
    process_fcs_files,
)
from helpers.cytometry.fcs_io import (
    FcsEvents,
    FcsReadError,
    find_fcs_files,
    load_fcs,
    load_gating_strategy,
    write_fcs,
    write_gatingml,
)
from helpers.cytometry.gating import (
    GatingPlan,
    GatingResult,
    compile_gating_plan,
    derive_gate_dimensions,
    derive_gate_values,
    derive_spillover_matrix,
    gate_events,
    gate_with_flowkit,
)
from helpers.cytometry.qc import (
    QC_COLUMNS,
    compute_event_qc,
    compute_flow_rate_bins,
    compute_margin_events,
    compute_sheet_mismatches,
    summarise_qc_flags,
)
from helpers.cytometry.stats import (
    STATISTICS_COLUMNS,
    compute_concordance,
    derive_concordance_pairs,
    derive_volume_ul,
    rename_population,
    summarise_gated_statistics,
)

__all__ = [
    "QC_COLUMNS",
    "STATISTICS_COLUMNS",
    "BatchResult",
    "FcsEvents",
    "FcsReadError",
    "FileOutcome",
    "GatingPlan",
    "GatingResult",
    "GatingSettings",
    "compile_gating_plan",
    "compute_concordance",
    "compute_event_qc",
    "compute_flow_rate_bins",
    "compute_margin_events",
    "compute_sheet_mismatches",
    "derive_concordance_pairs",
    "derive_files_per_task",
    "derive_gate_dimensions",
    "derive_gate_values",
    "derive_spillover_matrix",
    "derive_volume_ul",
    "find_fcs_files",
    "format_progress",
    "gate_events",
    "gate_fcs_files",
    "gate_with_flowkit",
    "load_fcs",
    "load_gating_strategy",
    "process_fcs_file",
    "process_fcs_files",
    "rename_population",
    "summarise_gated_statistics",
    "summarise_qc_flags",
    "write_fcs",
    "write_gatingml",
]
