-- 002: site policies (versioned), where each case went, and consumer positions.

-- Every accepted policy document is a version; a site is handled under the
-- highest version that holds it. Written by the dispatcher.
CREATE TABLE policies (
  version   integer PRIMARY KEY,
  loaded_at timestamptz NOT NULL,
  source    text NOT NULL            -- where it came from (a file name)
);

CREATE TABLE policy_sites (
  site     text NOT NULL,
  version  integer NOT NULL REFERENCES policies (version),
  document text NOT NULL,            -- the site's part of the policy, JSON (deploy/policy/README.md)
  PRIMARY KEY (site, version)
);

-- Where each case went (R-RT-1, R-RT-2). One row a case: a second dispatcher
-- instance cannot dispatch it again. Written by the dispatcher.
CREATE TABLE dispatches (
  case_id        bigint PRIMARY KEY REFERENCES cases (id),
  site           text NOT NULL,
  kind           smallint NOT NULL,  -- caseloop.v1.Kind: as submitted, or classified
  classified     boolean NOT NULL,   -- kind came from the keyword rules
  severity       smallint NOT NULL,
  department     text NOT NULL,      -- department code; '' when the site has no policy
  special        boolean NOT NULL,   -- major/special path
  assignee       text,               -- staff id; NULL while the case waits on the department queue
  notified       text[] NOT NULL,    -- staff told at once
  policy_version integer,            -- NULL when the site has no policy
  dispatched_at  timestamptz NOT NULL,
  position       bigint NOT NULL     -- position of the CaseReceived event it answers
);
CREATE INDEX dispatches_by_assignee ON dispatches (site, assignee) WHERE assignee IS NOT NULL;
CREATE INDEX dispatches_queue ON dispatches (site, department, case_id) WHERE assignee IS NULL;

-- How far each consumer of the event log has applied it. A consumer updates
-- its row in the transaction that applies the events, holding the row lock,
-- so a second instance waits and then continues after it.
CREATE TABLE consumer_positions (
  consumer text PRIMARY KEY,
  position bigint NOT NULL
);
