-- A rollout's revision, bumped by every update: the ticker and the operator actions
-- save a change only if the row is still at the revision they read (compare-and-set),
-- so an abort racing a wave tick cannot be overwritten by the tick's stale read.
ALTER TABLE rollouts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0);
