"""The query engine: fields per resource, the filter language, Query2 and old-style results.

Pure code (no reactor).  Callers build one :class:`QueryContext` per request and use:

* :func:`query` / :func:`query_fields` -- LUXI ``Query``/``QueryFields``, RAPI ``/2/query``;
* :func:`query_old_style` -- ``QueryNodes``/``QueryInstances``/``QueryGroups``/
  ``QueryNetworks``; :func:`query_jobs` -- ``QueryJobs``;
* :func:`cluster_info` / :func:`query_config_values` -- ``QueryClusterInfo`` and
  ``QueryConfigValues``;
* :func:`parse_filter` / :func:`make_filter` -- the CLI's textual filters and name lists.
"""

from ganeti.query.base import (
    NODATA,
    OFFLINE,
    UNAVAIL,
    FieldDef,
    FieldTable,
    JobSource,
    QueryContext,
    QueryData,
    Status,
    nice_key,
    nice_sort,
)
from ganeti.query.engine import (
    RAPI_FIELDS,
    RESOURCES,
    Resource,
    cluster_info,
    field_defs,
    query,
    query_config_values,
    query_fields,
    query_jobs,
    query_old_style,
    resource,
)
from ganeti.query.filter import compile_filter, simple_name_filter
from ganeti.query.jobs import job_priority, job_status, op_summary
from ganeti.query.qlang import make_filter, parse_filter

__all__ = [
    "NODATA",
    "OFFLINE",
    "RAPI_FIELDS",
    "RESOURCES",
    "UNAVAIL",
    "FieldDef",
    "FieldTable",
    "JobSource",
    "QueryContext",
    "QueryData",
    "Resource",
    "Status",
    "cluster_info",
    "compile_filter",
    "field_defs",
    "job_priority",
    "job_status",
    "make_filter",
    "nice_key",
    "nice_sort",
    "op_summary",
    "parse_filter",
    "query",
    "query_config_values",
    "query_fields",
    "query_jobs",
    "query_old_style",
    "resource",
    "simple_name_filter",
]
