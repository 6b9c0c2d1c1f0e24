-- harmmap workspace schema, version 4.
-- A big input file is stored as several Parquet pieces, so one file's partition
-- (police.uk force and month) can have an active segment in each piece.  Still
-- only one *file* may have active segments for a partition: the ingest
-- deactivates every active segment of a partition before registering the new
-- file's pieces of it, in the same transaction.
DROP INDEX IF EXISTS segments_one_active_per_partition;
CREATE UNIQUE INDEX IF NOT EXISTS segments_one_active_per_partition_piece
    ON segments(partition_key, path) WHERE active = 1;
