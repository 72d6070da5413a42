-- 004: find quickly the cases that came while their site had no policy.
CREATE INDEX dispatches_waiting ON dispatches (site, case_id) WHERE department = '';
