"""Reports and analytics: daily rollups kept by the workers from payment events, and the queries, charts'
figures and exports built on them (docs/reports.md)."""
