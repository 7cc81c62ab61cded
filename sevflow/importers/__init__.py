"""Importers: an Opsgenie or PagerDuty account, as the JSON their REST APIs answer, to sevflow.

`sevflow import opsgenie DIR` and `sevflow import pagerduty DIR` (starter/import_cli.py) read a
directory holding what the vendor's documented list/get endpoints returned (the README's fetch script
writes it; nothing here touches the network) and make two things of it:

- sevflow.yaml's on-call sections: people with their contact methods and notify rules, teams,
  rotations (one layer per source rotation or schedule layer, with their restrictions), escalation
  policies and services (`mapping.ImportResult.config`);
- the runtime layer: the source's schedule overrides as on-call changes keyed by the override's id
  (runtime.py), so importing again never adds them twice.

Everything that cannot be carried over is a `Problem`: where it is in the export (file and JSON path),
why, and what to do instead. A malformed or partial export is read as far as it goes: a file that is
missing or not JSON, or an item that does not have the documented shape, is a problem and the rest is
imported. The mapping is pure (export.py reads the files; write.py merges and compares the YAML).
"""

from sevflow.importers.export import At, ExportReader, Problem
from sevflow.importers.mapping import ImportResult
from sevflow.importers.runtime import IMPORTED_BY, ImportedCover, SyncPlan, plan_sync

__all__ = [
    "IMPORTED_BY",
    "At",
    "ExportReader",
    "ImportResult",
    "ImportedCover",
    "Problem",
    "SyncPlan",
    "plan_sync",
]
