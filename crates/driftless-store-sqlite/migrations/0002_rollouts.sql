-- Staged rollouts: release states, the history of what each channel pointed at, the
-- rollouts themselves, and what an install said it was trying to apply. The check-in
-- read stays one SELECT of indexed lookups: the channel's active rollout is found
-- through the partial unique index below.

-- Existing releases were all assignable.
ALTER TABLE releases ADD COLUMN state TEXT NOT NULL DEFAULT 'active'
    CHECK (state IN ('active', 'deprecated', 'yanked'));

-- The last report's target version and reason; NULL until a report carries them.
ALTER TABLE installs ADD COLUMN report_target_version TEXT;
ALTER TABLE installs ADD COLUMN report_reason TEXT;

-- rollout_outcomes counts the installs of one channel.
CREATE INDEX installs_by_channel ON installs (app, channel);

-- Append-only: one row each time set_channel_release points a channel at a release.
-- `id` orders the rows, so two changes in the same second keep their order.
CREATE TABLE channel_history (
    id       INTEGER NOT NULL PRIMARY KEY,
    app      TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    FOREIGN KEY (app, channel) REFERENCES channels (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version)
) STRICT;

-- channel_history(app, channel): the channel's rows, grouped by version (the rowid
-- `id` is the index's implicit last column, so MAX(id) per version is read from it).
CREATE INDEX channel_history_by_channel ON channel_history (app, channel, version);

-- What channels point at today is the newest entry of their history.
INSERT INTO channel_history (app, channel, version, at)
SELECT app, name, version, updated_at FROM channels WHERE version IS NOT NULL
ORDER BY app, name;

CREATE TABLE rollouts (
    id                INTEGER NOT NULL PRIMARY KEY,
    app               TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    previous_version  TEXT,
    -- Cumulative percentages as a JSON array of integers, e.g. `[1,10,50,100]`.
    waves             TEXT    NOT NULL CHECK (json_valid(waves) AND json_type(waves) = 'array'),
    wave_index        INTEGER NOT NULL CHECK (wave_index >= 0),
    wave_started_at   INTEGER NOT NULL,
    -- NULL: waves open only on `advance`.
    interval_s        INTEGER,
    state             TEXT    NOT NULL
        CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'completed')),
    min_failures      INTEGER NOT NULL CHECK (min_failures >= 0),
    max_failure_pct   INTEGER NOT NULL CHECK (max_failure_pct >= 0),
    reason            TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    FOREIGN KEY (app, channel) REFERENCES channels (app, name),
    FOREIGN KEY (app, version) REFERENCES releases (app, version),
    FOREIGN KEY (app, previous_version) REFERENCES releases (app, version)
) STRICT;

-- At most one active rollout per channel (a second one is a unique violation), and
-- the lookup the check-in read joins through. Queries must repeat the same state list
-- in the same order (`ACTIVE_STATES` in src/rollouts.rs), or SQLite will not use it.
CREATE UNIQUE INDEX rollouts_active_by_channel ON rollouts (app, channel)
    WHERE state IN ('running', 'paused', 'halted');
-- running_rollouts, for the background ticker.
CREATE INDEX rollouts_by_state ON rollouts (state);
-- list_rollouts(app), newest first.
CREATE INDEX rollouts_by_app ON rollouts (app, created_at);
