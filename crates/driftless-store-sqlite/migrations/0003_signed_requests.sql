-- Replay protection for the install API: the time of the newest signed request the
-- control plane accepted from each install (Unix milliseconds). A request is accepted
-- only if its time is newer, by one conditional UPDATE of the install's own row.
-- NULL until the install's first signed request.
ALTER TABLE installs ADD COLUMN newest_request_ms INTEGER;
