-- 003: the case lifecycle, who tracks a case, shift handovers, and the indexes lists and histories read.

-- When the lifecycle's milestones were reached (intake writes them with the state).
ALTER TABLE cases
  ADD COLUMN acknowledged_at  timestamptz,
  ADD COLUMN first_contact_at timestamptz,
  ADD COLUMN resolved_at      timestamptz,
  ADD COLUMN closed_at        timestamptz,
  ADD COLUMN satisfied        boolean;      -- the customer's last opinion, NULL until asked

-- Lists of a site's cases, newest first.
CREATE INDEX cases_by_site ON cases (site, id DESC);
CREATE INDEX cases_by_site_state ON cases (site, state, id DESC);
CREATE INDEX dispatches_by_department ON dispatches (site, department, case_id DESC);

-- A case's history: its events in order.
CREATE INDEX events_by_case ON events (case_id, position) WHERE case_id IS NOT NULL;

-- Who tracks a case when it is no longer its first receiver (R-CL-4). No
-- row: the first receiver does. Written by the dispatcher.
CREATE TABLE case_tracking (
  case_id bigint PRIMARY KEY REFERENCES cases (id),
  tracker text NOT NULL,
  since   timestamptz NOT NULL
);
CREATE INDEX case_tracking_by_tracker ON case_tracking (tracker);

-- Shift handover records (交接班记录). Written by the dispatcher.
CREATE TABLE handovers (
  id       bigserial PRIMARY KEY,
  site     text NOT NULL,
  outgoing text NOT NULL,
  incoming text NOT NULL,
  note     text NOT NULL,
  at       timestamptz NOT NULL,
  position bigint NOT NULL                  -- its ShiftHandedOver event
);
CREATE INDEX handovers_by_site ON handovers (site, id DESC);

CREATE TABLE handover_cases (
  handover_id bigint NOT NULL REFERENCES handovers (id),
  case_id     bigint NOT NULL REFERENCES cases (id),
  state       smallint NOT NULL,            -- the state it was in when handed over
  PRIMARY KEY (handover_id, case_id)
);
