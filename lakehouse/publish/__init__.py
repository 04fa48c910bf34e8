"""Publishing silver and gold to their users: the Glue Data Catalog and Athena views."""
