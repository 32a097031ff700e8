"""The ceilings of `make bench`: what Flask, gunicorn and the database can do at most on this machine.

Served by the same gunicorn command as Kassa, so each Kassa figure divided by its ceiling is what Kassa's
own work costs on top of the stack it stands on:

- `GET /hello`: a hello-world Flask route (the ceiling of any page);
- `GET /select1`: one `SELECT 1` round trip on a pooled connection (a page that asks the database one
  question);
- `POST /insert`: one SQLAlchemy Core INSERT + COMMIT (the ceiling of any API call that writes).

The database is `BENCH_CEILING_DATABASE_URL`, the same PostgreSQL server Kassa uses; the table
`bench_ceiling` is created by the benchmark before the servers start.
"""

from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, create_engine, insert, text

METADATA = MetaData()
CEILING_TABLE = Table(
    "bench_ceiling",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("payload", Text, nullable=False),
)


def create_app() -> Flask:
    app = Flask(__name__)
    engine = create_engine(os.environ["BENCH_CEILING_DATABASE_URL"], pool_size=4, pool_pre_ping=False)

    @app.get("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.get("/select1")
    def select1() -> str:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT 1")).scalar_one())

    @app.post("/insert")
    def insert_one() -> tuple[str, int]:
        with engine.begin() as conn:
            conn.execute(insert(CEILING_TABLE).values(payload=request.get_data(as_text=True)[:200]))
        return "created", 201

    return app
