"""Import and export of records: FtM JSON lines, CSV through a column mapping, STIX 2.1 bundles.

Every import validates the whole file before anything counts: each entry goes through the same checks and ingest
rules as a record created by hand, all problems are reported together (by line or STIX object), and the caller's
transaction rolls back if there is any. Markings travel with the records in every format and come back the same.
"""

from __future__ import annotations

from alianza.records.interchange.common import ImportSummary
from alianza.records.interchange.csv_mapping import CsvMapping, import_csv, load_mapping
from alianza.records.interchange.ftm_lines import export_ftm, import_ftm
from alianza.records.interchange.stix import export_stix, import_stix

__all__ = [
    "CsvMapping",
    "ImportSummary",
    "export_ftm",
    "export_stix",
    "import_csv",
    "import_ftm",
    "import_stix",
    "load_mapping",
]
