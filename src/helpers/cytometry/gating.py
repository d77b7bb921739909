"""Gating one FCS file with a FlowKit gating strategy: compensation, transforms, gates.

:func:`compile_gating_plan` turns a FlowKit ``GatingStrategy`` (GatingML 2.0 or FlowJo .wsp)
into a :class:`GatingPlan`: gates in hierarchy order, each with the channels, compensation and
transform it needs. :func:`gate_events` applies the plan to one file's events with FlowKit's own
primitives, but once per file instead of once per gate:

1. compensation: ``flowutils.compensate.compensate`` (what FlowKit's ``Matrix.apply`` calls) with
   the matrix the strategy names — the file's ``$SPILLOVER``/``SPILL``/``$SPILL`` keyword for the
   GatingML reference "FCS", a matrix of the strategy, or a matrix supplied by the caller;
2. transforms: each (channel, compensation, transform) column is transformed once with the
   strategy's FlowKit transform object (``LogicleTransform.apply`` etc.);
3. gates: each gate's own FlowKit ``apply`` (rectangle, polygon by winding number, ellipsoid),
   evaluated on the events of its parent only; Boolean gates combine the masks of the gates they
   reference.

The result equals ``GatingStrategy.gate_sample`` (``tests/test_cytometry.py`` checks every gate's
count on the demo files) while avoiding FlowKit's per-gate DataFrame copies; a strategy with a
gate type this plan does not know (quadrant, ratio dimensions) raises ``NotImplementedError``
and :func:`gate_with_flowkit` is the fallback.

References
----------
Spidlen J et al. Gating-ML 2.0. Cytometry A 2015;87:683-687 (gate semantics, compensation-ref
"FCS"/"uncompensated", Logicle).
Parks DR, Roederer M, Moore WA. A new "Logicle" display method avoids deceptive effects of
logarithmic scaling for low signals and compensated data. Cytometry A 2006;69:541-551.
White S et al. FlowKit. Front Immunol 2021;12:768541.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.cytometry.fcs_io import FcsEvents

__all__ = [
    "SPILL_KEYWORDS",
    "GateStep",
    "GatingPlan",
    "GatingResult",
    "compile_gating_plan",
    "derive_gate_dimensions",
    "derive_gate_values",
    "derive_spillover_matrix",
    "gate_events",
    "gate_with_flowkit",
]

#: Keywords holding the acquisition spillover matrix, in order of preference (FCS 3.1 first).
SPILL_KEYWORDS = ("spillover", "spill", "$spill", "comp")
_UNCOMP = (None, "uncompensated")


@dataclass(frozen=True)
class GateStep:
    """One gate of a plan.

    Attributes
    ----------
    gate_id : str
        Gate id in the strategy.
    path : str
        Population path with "/" (e.g. ``Lymphocytes/Single_Cells``), no "root".
    parent : str
        Path of the parent population ("" for a root gate: all events).
    gate : object
        The FlowKit gate object.
    columns : tuple of (str, str | None, str | None)
        (dimension id, compensation ref, transform ref) per dimension ("" for Boolean gates).
    refs : tuple of str
        Boolean gates: population paths of the referenced gates.
    bounds : tuple of (float | None, float | None), optional
        Rectangle gates on monotone transforms: each dimension's limits mapped back to the
        untransformed scale (``transform.inverse``), so the gate needs no transform at all:
        ``T(x) >= t`` is ``x >= T⁻¹(t)`` for increasing ``T``. Empty when not applicable.
    """

    gate_id: str
    path: str
    parent: str
    gate: Any = field(repr=False)
    columns: tuple[tuple[str, str | None, str | None], ...]
    refs: tuple[str, ...] = ()
    bounds: tuple[tuple[float | None, float | None], ...] = ()


@dataclass(frozen=True)
class GatingPlan:
    """A gating strategy compiled for repeated application (picklable for Dask workers).

    Attributes
    ----------
    steps : tuple of GateStep
        Gates, parents before children.
    transforms : dict
        Transform id -> FlowKit transform object.
    matrices : dict
        Compensation id -> FlowKit ``Matrix`` of the strategy (not "FCS").
    """

    steps: tuple[GateStep, ...]
    transforms: dict[str, Any] = field(repr=False)
    matrices: dict[str, Any] = field(repr=False)

    @property
    def populations(self) -> list[str]:
        """Population paths in hierarchy order."""
        return [s.path for s in self.steps]

    def step(self, path: str) -> GateStep:
        """The gate step of a population path."""
        for s in self.steps:
            if s.path == path:
                return s
        raise KeyError(f"no population {path!r} in the gating plan; known: {self.populations}")


@dataclass(frozen=True)
class GatingResult:
    """One file gated.

    Attributes
    ----------
    sample_id : str
        File name.
    n_events : int
        All events of the file.
    masks : dict
        Population path -> boolean mask over all events ("" = all events).
    compensated : numpy.ndarray
        Events after compensation (linear scale), the scale of median fluorescence.
    columns : dict
        (dimension id, compensation ref, transform ref) -> gated-on values; transformed values
        are computed only for the events of the parents gated on that column (NaN elsewhere).
    pnn, pns : tuple of str
        Channel and stain names (as in the file).
    events : numpy.ndarray
        The file's uncompensated events (the same array as ``FcsEvents.events``, not a copy).
    """

    sample_id: str
    n_events: int
    masks: dict[str, np.ndarray] = field(repr=False)
    compensated: np.ndarray = field(repr=False)
    columns: dict[tuple[str, str | None, str | None], np.ndarray] = field(repr=False)
    pnn: tuple[str, ...] = ()
    pns: tuple[str, ...] = ()
    events: np.ndarray | None = field(default=None, repr=False)

    def count(self, path: str) -> int:
        """Events in a population."""
        return int(self.masks[path].sum())


def compile_gating_plan(strategy: Any) -> GatingPlan:
    """Compile a FlowKit ``GatingStrategy`` into a :class:`GatingPlan`.

    Parameters
    ----------
    strategy : flowkit.GatingStrategy
        From :func:`helpers.cytometry.fcs_io.load_gating_strategy` (GatingML 2.0 or .wsp).

    Returns
    -------
    GatingPlan

    Raises
    ------
    NotImplementedError
        Quadrant gates or ratio dimensions (use :func:`gate_with_flowkit`).
    """
    import flowkit as fk

    steps = []
    # parents before children; siblings keep the strategy's own order (stable sort on depth)
    ids = sorted(strategy.get_gate_ids(), key=lambda item: len(item[1]))
    for gate_id, gate_path in ids:
        gate = strategy.get_gate(gate_id, gate_path=gate_path)
        ancestors = list(gate_path[1:])  # drop "root"
        parent = "/".join(ancestors)
        path = "/".join([*ancestors, gate_id])
        if isinstance(gate, fk.gates.BooleanGate):
            refs = tuple("/".join([*r["path"][1:], r["ref"]]) for r in gate.gate_refs)
            steps.append(GateStep(gate_id, path, parent, gate, (), refs))
            continue
        if isinstance(gate, fk.gates.QuadrantGate):
            raise NotImplementedError(f"gate {path!r}: quadrant gates go through FlowKit")
        cols = []
        for dim in gate.dimensions:
            if not isinstance(dim, fk.Dimension):
                raise NotImplementedError(f"gate {path!r}: ratio dimensions go through FlowKit")
            comp = None if dim.compensation_ref in _UNCOMP else dim.compensation_ref
            cols.append((dim.id, comp, dim.transformation_ref))
        bounds = _linear_bounds(gate, strategy) if isinstance(gate, fk.gates.RectangleGate) else ()
        if bounds:
            cols = [(dim_id, comp, None) for dim_id, comp, _ in cols]
        steps.append(GateStep(gate_id, path, parent, gate, tuple(cols), (), bounds))
    transforms = {t: strategy.get_transform(t) for t in strategy.transformations}
    matrices = {m: strategy.get_comp_matrix(m) for m in strategy.comp_matrices}
    return GatingPlan(tuple(steps), transforms, matrices)


#: Transforms that are strictly increasing (a rectangle's limits can be inverted exactly).
_MONOTONE = (
    "LinearTransform",
    "LogTransform",
    "AsinhTransform",
    "LogicleTransform",
    "HyperlogTransform",
)


def _linear_bounds(gate: Any, strategy: Any) -> tuple[tuple[float | None, float | None], ...]:
    """Rectangle limits on the untransformed scale, or () when a transform is not invertible."""
    out = []
    for dim in gate.dimensions:
        lo, hi = dim.min, dim.max
        if dim.transformation_ref is not None:
            xform = strategy.get_transform(dim.transformation_ref)
            if type(xform).__name__ not in _MONOTONE:
                return ()
            inv = lambda v, xf=xform: float(np.asarray(xf.inverse(np.array([[v]]))).ravel()[0])  # noqa: E731
            lo = None if lo is None else inv(lo)
            hi = None if hi is None else inv(hi)
        out.append((lo, hi))
    return tuple(out)


def derive_spillover_matrix(fcs: FcsEvents) -> Any | None:
    """The acquisition spillover matrix of a file (FlowKit ``Matrix``), or None when absent.

    Read from ``$SPILLOVER`` (FCS 3.1), else ``SPILL``/``$SPILL``/``COMP`` (FCS 3.0 vendor
    keywords), parsed by FlowKit. Raises ``ValueError`` naming the file when the keyword names a
    detector the file does not have.
    """
    import flowkit as fk

    for key in SPILL_KEYWORDS:
        text = fcs.keywords.get(key)
        if text and str(text).strip():
            tokens = [t.strip() for t in str(text).split(",")]
            n = int(float(tokens[0]))
            detectors = tokens[1 : n + 1]
            missing = [d for d in detectors if d not in fcs.pnn]
            if missing:
                raise ValueError(
                    f"{fcs.path}: keyword {key.upper()} names detectors not in the file: {missing}"
                )
            return fk.Matrix(str(text), detectors)
    return None


def _compensate(fcs: FcsEvents, matrix: Any) -> np.ndarray:
    """events[:, detectors] @ inverse(spillover), other channels unchanged.

    The same algebra as ``flowutils.compensate.compensate`` (FlowKit's ``Matrix.apply``), done as
    one product with a (channels × channels) matrix: identity outside the detectors' block, the
    inverse spillover inside it (untouched channels are multiplied by exactly 1 and added exact
    zeros, so they stay bit-identical). Computed transposed, the result is column-major: each
    channel is contiguous, which the gates and medians read column by column. Equality with
    FlowKit is tested.
    """
    missing = [d for d in matrix.detectors if d not in fcs.pnn]
    if missing:
        raise ValueError(f"{fcs.path}: compensation matrix detectors not in the file: {missing}")
    idx = [fcs.pnn.index(d) for d in matrix.detectors]
    full = np.eye(fcs.events.shape[1])
    full[np.ix_(idx, idx)] = np.linalg.inv(np.asarray(matrix.matrix, dtype=float))
    return (full.T @ fcs.events.T).T


def _channel_index(fcs: FcsEvents, dim_id: str, matrix: Any | None) -> int:
    """Dimension id -> column: $PnN, then $PnS, then a matrix fluorochrome (as FlowKit does)."""
    if dim_id in fcs.pnn:
        return fcs.pnn.index(dim_id)
    if dim_id in fcs.pns:
        return fcs.pns.index(dim_id)
    flowjo = [p.replace("/", "_") for p in fcs.pnn]
    if dim_id in flowjo:
        return flowjo.index(dim_id)
    if matrix is not None and dim_id in list(matrix.fluorochromes):
        return fcs.pnn.index(matrix.detectors[list(matrix.fluorochromes).index(dim_id)])
    raise ValueError(f"{fcs.path}: gate dimension {dim_id!r} is not a channel of the file")


def gate_events(
    fcs: FcsEvents, plan: GatingPlan, compensation: Mapping[str, Any] | Any | None = None
) -> GatingResult:
    """Apply a gating plan to one file.

    Method: see the module docstring (compensate once, transform each gated column once, apply
    each FlowKit gate to its parent's events). A dimension with compensation-ref "FCS" uses the
    file's spillover keyword (uncompensated when the file has none, as Gating-ML 2.0 says),
    unless ``compensation`` supplies a matrix.

    Parameters
    ----------
    fcs : FcsEvents
        One file (:func:`helpers.cytometry.fcs_io.load_fcs`).
    plan : GatingPlan
        :func:`compile_gating_plan` output.
    compensation : flowkit.Matrix or mapping, optional
        A matrix replacing the file's spillover ("FCS"), or ``{compensation id: Matrix}``
        replacing matrices of the strategy.

    Returns
    -------
    GatingResult
        Masks per population path, compensated events and the transformed gated columns.
    """
    supplied = dict(compensation) if isinstance(compensation, Mapping) else {}
    if compensation is not None and not isinstance(compensation, Mapping):
        supplied["FCS"] = compensation
    matrices: dict[str, Any] = {**plan.matrices, **supplied}
    if "FCS" not in matrices:
        matrices["FCS"] = derive_spillover_matrix(fcs)
    fcs_matrix = matrices["FCS"]
    compensated = _compensate(fcs, fcs_matrix) if fcs_matrix is not None else fcs.events
    comp_cache: dict[str | None, np.ndarray] = {None: fcs.events, "FCS": compensated}

    n = fcs.n_events
    # gated-on values, transformed lazily: only the events of the parents that need them
    columns: dict[tuple[str, str | None, str | None], np.ndarray] = {}
    done: dict[tuple[str, str | None, str | None], np.ndarray] = {}

    def column(key: tuple[str, str | None, str | None], idx: np.ndarray | None) -> np.ndarray:
        dim_id, comp, xform = key
        if key not in columns:
            if comp not in comp_cache:
                if matrices.get(comp) is None:
                    raise ValueError(f"gating strategy names an unknown compensation {comp!r}")
                comp_cache[comp] = _compensate(fcs, matrices[comp])
            matrix = matrices.get(comp) if comp is not None else None
            source = comp_cache[comp][:, _channel_index(fcs, dim_id, matrix)]
            columns[(dim_id, comp, "__source__")] = source
            if xform is None:
                columns[key] = source
            else:
                columns[key] = np.full(n, np.nan)
                done[key] = np.zeros(n, dtype=bool)
        if xform is None:
            return columns[key] if idx is None else columns[key][idx]
        idx = np.arange(n) if idx is None else idx
        todo = idx[~done[key][idx]]
        if todo.size:
            source = columns[(dim_id, comp, "__source__")][todo]
            columns[key][todo] = np.asarray(
                plan.transforms[xform].apply(source.reshape(-1, 1))
            ).ravel()
            done[key][todo] = True
        return columns[key][idx]

    masks: dict[str, np.ndarray] = {"": np.ones(n, dtype=bool)}
    for step in plan.steps:
        parent = masks[step.parent]
        if step.refs:
            refs = {(r.rsplit("/", 1)[-1], r): masks[r] for r in step.refs}
            masks[step.path] = _apply_boolean(step.gate, refs, n) & parent
            continue
        idx = None if step.parent == "" else np.flatnonzero(parent)  # root gates: all events
        values = [column(key, idx) for key in step.columns]
        inside = _apply_gate(step.gate, step.columns, values, step.bounds)
        if idx is None:
            masks[step.path] = inside
        else:
            mask = np.zeros(n, dtype=bool)
            mask[idx[inside]] = True
            masks[step.path] = mask
    columns = {k: v for k, v in columns.items() if k[2] != "__source__"}
    return GatingResult(
        sample_id=fcs.name,
        n_events=n,
        masks=masks,
        compensated=compensated,
        columns=columns,
        pnn=fcs.pnn,
        pns=fcs.pns,
        events=fcs.events,
    )


def derive_gate_values(
    result: GatingResult, plan: GatingPlan, dimension: tuple[str, str | None, str | None], mask
) -> np.ndarray:
    """Values of one (dimension id, compensation ref, transform ref) for the events of ``mask``.

    For drawing gates: uncompensated dimensions come from the raw events, compensated ones from
    ``result.compensated`` (the file's or the supplied matrix), transformed with the plan's
    transform.
    """
    dim_id, comp, xform = dimension
    source = result.events if comp in _UNCOMP else result.compensated
    labels = list(result.pnn)
    if dim_id in labels:
        col = labels.index(dim_id)
    elif dim_id in result.pns:
        col = list(result.pns).index(dim_id)
    else:
        raise ValueError(f"{result.sample_id}: {dim_id!r} is not a channel")
    values = source[np.asarray(mask, dtype=bool), col]
    if xform is not None:
        values = np.asarray(plan.transforms[xform].apply(values.reshape(-1, 1))).ravel()
    return values


def derive_gate_dimensions(step: GateStep) -> list[tuple[str, str | None, str | None]]:
    """(dimension id, compensation ref, transform ref) of a gate as the strategy states them."""
    return [
        (d.id, None if d.compensation_ref in _UNCOMP else d.compensation_ref, d.transformation_ref)
        for d in step.gate.dimensions
    ]


def _apply_gate(
    gate: Any,
    keys: Sequence[tuple],
    values: list[np.ndarray],
    bounds: Sequence[tuple[float | None, float | None]] = (),
) -> np.ndarray:
    """A FlowKit gate on column arrays: rectangles and polygons without a DataFrame.

    Rectangle: ``min <= x < max`` per dimension (FlowKit's ``RectangleGate.apply``); polygon:
    ``flowutils.gating.points_in_polygon`` (winding number; what ``PolygonGate.apply`` calls);
    anything else: the gate's own ``apply`` on a DataFrame.
    """
    import flowkit as fk
    from flowutils import gating

    if isinstance(gate, fk.gates.RectangleGate):
        limits = bounds or [(d.min, d.max) for d in gate.dimensions]
        inside = np.ones(len(values[0]), dtype=bool)
        for (lo, hi), v in zip(limits, values, strict=True):
            if lo is not None:
                inside &= v >= lo
            if hi is not None:
                inside &= v < hi
    elif isinstance(gate, fk.gates.PolygonGate):
        pts = np.column_stack(values).astype(np.float64)
        inside = np.asarray(
            gating.points_in_polygon(np.array(gate.vertices, dtype=np.float64), pts), dtype=bool
        )
    else:
        frame = pd.DataFrame({k[0]: v for k, v in zip(keys, values, strict=True)})
        return np.asarray(gate.apply(frame), dtype=bool)
    return ~inside if getattr(gate, "use_complement", False) else inside


def _apply_boolean(gate: Any, refs: dict[tuple[str, str], np.ndarray], n: int) -> np.ndarray:
    parts = []
    for ref in gate.gate_refs:
        path = "/".join([*ref["path"][1:], ref["ref"]])
        mask = refs[(ref["ref"], path)]
        parts.append(~mask if ref["complement"] else mask)
    if gate.type == "and":
        return np.logical_and.reduce(parts) if parts else np.ones(n, dtype=bool)
    if gate.type == "or":
        return np.logical_or.reduce(parts) if parts else np.zeros(n, dtype=bool)
    if gate.type == "not":
        return ~parts[0]
    raise ValueError(f"Boolean gate {gate.gate_name!r}: type must be and/or/not, got {gate.type!r}")


def gate_with_flowkit(path: str, strategy: Any) -> pd.DataFrame:
    """Reference path: FlowKit ``Sample`` + ``GatingStrategy.gate_sample`` on one file.

    Returns
    -------
    pandas.DataFrame
        FlowKit's report: one row per gate with ``gate_path`` (tuple), ``gate_name``, ``count``,
        ``relative_percent``, ``absolute_percent``; plus ``population`` (path with "/", no root).
    """
    import flowkit as fk

    sample = fk.Sample(path, subsample=0)
    report = strategy.gate_sample(sample).report
    population = [
        "/".join([*list(gp)[1:], name])
        for gp, name in zip(report["gate_path"], report["gate_name"], strict=True)
    ]
    return report.assign(population=population)
