"""The platform's own state in SQL (SQLite embedded, PostgreSQL in production): playbook
enrolments and step deliveries, the outbox, and what the platform sent or recorded.

`schema` defines the tables, `store` opens the database and writes idempotently,
`delivery` sends each due step at most once and accounts for every one.
"""
