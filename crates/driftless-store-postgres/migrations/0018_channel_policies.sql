-- A channel's promotion gate (licences, advisory severity, SBOM required, OSV data
-- age), as JSON the control plane owns. No row: the channel has no gate.
CREATE TABLE channel_policies (
    app        TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    policy     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app, channel),
    FOREIGN KEY (app, channel) REFERENCES channels (app, name)
);
