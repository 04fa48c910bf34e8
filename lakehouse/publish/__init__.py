"""Publishing silver and gold to their users.

- `catalog`: silver and gold registered in the Glue Data Catalog (Athena reads them as Delta);
- `views`: the BI views over gold, created through Athena;
- `export`: gold copied into PostgreSQL, atomically and idempotently;
- `dashboard`: one self-contained HTML page of the KPIs, data quality and freshness.

They take plain values (a storage root, database names, clients) and report progress through a
`progress` callable (`ops.results.Progress`; silent by default); none reads the config or records a run.
"""
