-- Update policies: what each install reported about the customer's policy (`auto`,
-- `approve`, `window <windows>`) and the release it holds back because of it (JSON
-- text: version, urgent, what it waits for, the next window). NULL until a report
-- carries them, and for CLIs that predate policies.
ALTER TABLE installs ADD COLUMN report_policy TEXT;
ALTER TABLE installs ADD COLUMN report_waiting TEXT;
