"""The cytometry room's only file access: FCS files, gating strategies (GatingML 2.0, FlowJo .wsp).

Like :mod:`helpers.io` for tables, this module is the one place of :mod:`helpers.cytometry`
that touches the file system (``docs/architecture.md``: "I/O modules"); every other module of the
room works on the in-memory :class:`FcsEvents` it returns. FCS files are parsed with FlowIO
(the FCS parser FlowKit itself uses) and gating strategies with FlowKit, so that the keywords,
gain/time scaling and gate semantics are those of the field's maintained libraries.

A file that cannot be parsed (corrupt header, truncated data segment, wrong event count) raises
:class:`FcsReadError` naming the file and what is wrong; nothing is skipped silently.

References
----------
Spidlen J et al. Data File Standard for Flow Cytometry, version FCS 3.1. Cytometry A
2010;77:97-100 (keywords $TOT, $PAR, $PnN, $PnS, $PnR, $SPILLOVER, $VOL, $TIMESTEP).
Spidlen J et al. Gating-ML 2.0. Cytometry A 2015;87:683-687.
White S et al. FlowKit: a Python toolkit for integrated manual and automated cytometry
analysis workflows. Front Immunol 2021;12:768541.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FCS_SUFFIX",
    "FcsEvents",
    "FcsReadError",
    "find_fcs_files",
    "load_fcs",
    "load_gating_strategy",
    "write_fcs",
    "write_gatingml",
]

FCS_SUFFIX = ".fcs"


class FcsReadError(ValueError):
    """An FCS file or a gating strategy file cannot be read; the message names the file."""


@dataclass(frozen=True)
class FcsEvents:
    """One FCS file in memory.

    Attributes
    ----------
    path : str
        File the events come from (messages name it).
    events : numpy.ndarray
        (n_events, n_channels) float64, gain/log/time scaled as FlowIO's ``as_array`` (the same
        "raw" events FlowKit's ``Sample`` holds), uncompensated.
    pnn : tuple of str
        Channel (detector) names, ``$PnN``.
    pns : tuple of str
        Stain / marker names, ``$PnS`` ("" when absent).
    pnr : tuple of float
        Channel ranges ``$PnR`` (the top of the scale, for margin events).
    keywords : dict
        Every TEXT keyword, lower-case names without the leading "$" (FlowIO's convention).
    """

    path: str
    events: np.ndarray
    pnn: tuple[str, ...]
    pns: tuple[str, ...]
    pnr: tuple[float, ...]
    keywords: dict[str, str] = field(repr=False)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.events.shape[0])

    @property
    def name(self) -> str:
        """File name without folder."""
        return Path(self.path).name


def find_fcs_files(folder: Path) -> list[Path]:
    """Every ``*.fcs`` file directly in ``folder``, sorted by name (empty list if no folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == FCS_SUFFIX and p.is_file())


def load_fcs(path: Path | str) -> FcsEvents:
    """Read one FCS 2.0/3.0/3.1 file.

    Parameters
    ----------
    path : path-like
        The FCS file.

    Returns
    -------
    FcsEvents
        Events (float64, uncompensated), channel names, stains, ranges and keywords.

    Raises
    ------
    FcsReadError
        The file is missing, is not FCS, or its data segment is truncated/corrupt (the message
        names the file and FlowIO's reason).
    """
    import flowio

    path = Path(path)
    if not path.is_file():
        raise FcsReadError(f"{path}: FCS file not found.")
    try:
        data = flowio.FlowData(str(path))
        events = data.as_array(preprocess=True)
    except Exception as err:  # FlowIO raises bare Exception/ValueError/struct.error on bad bytes
        raise FcsReadError(
            f"{path}: not a readable FCS file ({type(err).__name__}: {err}). "
            "Re-export it from the cytometer; a truncated copy is the usual cause."
        ) from err
    n_expected = int(data.text.get("tot", events.shape[0]) or 0)
    if events.shape[0] != n_expected:
        raise FcsReadError(
            f"{path}: data segment holds {events.shape[0]} events but $TOT says {n_expected} "
            "(truncated or corrupt file)."
        )
    chans = [data.channels[k] for k in sorted(data.channels, key=int)]
    return FcsEvents(
        path=str(path),
        events=events,
        pnn=tuple(str(c.get("pnn", "")) for c in chans),
        pns=tuple(str(c.get("pns", "") or "") for c in chans),
        pnr=tuple(float(c.get("pnr", np.nan)) for c in chans),
        keywords=dict(data.text),
    )


def load_gating_strategy(path: Path | str, sample_group: str = "All Samples") -> Any:
    """Read a gating strategy: GatingML 2.0 (``.xml``) or a FlowJo 10 workspace (``.wsp``).

    Parameters
    ----------
    path : path-like
        GatingML 2.0 file or FlowJo 10 workspace.
    sample_group : str, default "All Samples"
        FlowJo group whose template gates are used (``.wsp`` only): the gate tree of the first
        sample of that group, as FlowKit's ``Workspace`` reads it.

    Returns
    -------
    flowkit.GatingStrategy

    Raises
    ------
    FcsReadError
        The file is missing, not GatingML 2.0 compliant, or the workspace has no such group.
    """
    import flowkit as fk
    from lxml import etree  # FlowKit's XML parser: malformed XML raises its errors

    path = Path(path)
    if not path.is_file():
        raise FcsReadError(f"{path}: gating strategy file not found.")
    try:
        if path.suffix.lower() == ".wsp":
            with warnings.catch_warnings():  # "sample was not loaded": not needed for the gates
                warnings.simplefilter("ignore", UserWarning)
                ws = fk.Workspace(str(path), load_missing_file_data=True)
            if sample_group not in ws.get_sample_groups():
                raise FcsReadError(
                    f"{path}: no FlowJo group {sample_group!r}; groups: {ws.get_sample_groups()}"
                )
            samples = ws.get_sample_ids(sample_group, loaded_only=False)
            if not samples:
                raise FcsReadError(f"{path}: FlowJo group {sample_group!r} has no sample.")
            return ws.get_gating_strategy(samples[0])
        return fk.parse_gating_xml(str(path))
    except FcsReadError:
        raise
    except (ValueError, KeyError, OSError, SyntaxError, etree.LxmlError) as err:
        raise FcsReadError(
            f"{path}: not a GatingML 2.0 file or FlowJo 10 workspace ({err})."
        ) from err


def write_fcs(
    path: Path | str,
    events: np.ndarray,
    pnn: Sequence[str],
    pns: Sequence[str],
    keywords: Mapping[str, str] | None = None,
) -> Path:
    """Write an FCS 3.1 file (float32 list mode) with FlowIO; used by the demo simulator.

    ``keywords`` are extra TEXT keywords (e.g. ``{"SPILLOVER": ..., "VOL": ..., "DATE": ...}``).
    """
    from array import array

    import flowio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = array("f")  # FlowIO converts other inputs value by value
    flat.frombytes(np.ascontiguousarray(events, dtype=np.float32).tobytes())
    with open(path, "wb") as fh:
        flowio.create_fcs(fh, flat, list(pnn), list(pns), metadata_dict=dict(keywords or {}))
    return path


def write_gatingml(strategy: Any, path: Path | str) -> Path:
    """Write a FlowKit ``GatingStrategy`` as GatingML 2.0."""
    import flowkit as fk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fk.export_gatingml(strategy, fh)
    return path
