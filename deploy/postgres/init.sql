-- Run once when the PostgreSQL volume is created (docker-entrypoint-initdb.d).
-- A statement that runs past 30 s is cancelled rather than holding locks and a pool connection; no query of the
-- service takes near that (the slowest, a month's figures over a million cases, takes well under a second).
ALTER DATABASE gridwhistle SET statement_timeout = '30s';
ALTER DATABASE gridwhistle SET lock_timeout = '10s';
