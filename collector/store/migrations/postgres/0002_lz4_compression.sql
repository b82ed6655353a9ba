-- Records and verdicts are JSON of 1-3 kB, above the TOAST threshold: lz4
-- compresses them several times faster than the default pglz (measured with
-- bench/bench_store.py). Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE latest ALTER COLUMN data SET COMPRESSION lz4;
    ALTER TABLE verdicts ALTER COLUMN data SET COMPRESSION lz4;
    ALTER TABLE verdict_history ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available, keeping default TOAST compression';
END
$$;
