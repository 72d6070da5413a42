-- 001: cases, their further reports, and the event log.
-- Times are timestamptz; services exchange them as microseconds since the
-- Unix epoch, converted by the two functions below.

CREATE FUNCTION cl_us_to_ts(us bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT timestamptz 'epoch' + us * interval '1 microsecond' $$;

CREATE FUNCTION cl_ts_to_us(ts timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT (extract(epoch FROM ts) * 1000000)::bigint $$;

-- One customer matter (caseloop.v1.Case). Written by intake only.
CREATE TABLE cases (
  id                bigint PRIMARY KEY,   -- the case number, from cases_id_seq
  site              text NOT NULL,
  channel           smallint NOT NULL,    -- caseloop.v1.Channel value
  kind              smallint NOT NULL,    -- caseloop.v1.Kind value
  severity          smallint NOT NULL,    -- caseloop.v1.Severity value
  state             smallint NOT NULL,    -- caseloop.v1.CaseState value
  customer_name     text NOT NULL,
  customer_contact  text NOT NULL,
  location          text NOT NULL,
  description       text NOT NULL,
  occurred_at       timestamptz,
  anonymous         boolean NOT NULL,
  reply_letter_only boolean NOT NULL,
  first_receiver    text NOT NULL,
  external_source   text NOT NULL,
  external_id       text NOT NULL,
  received_at       timestamptz NOT NULL,
  respond_by        timestamptz NOT NULL,
  report_count      integer NOT NULL DEFAULT 1,
  CONSTRAINT cases_idempotency UNIQUE (external_source, external_id)
);
CREATE SEQUENCE cases_id_seq OWNED BY cases.id;
-- Candidates for "the same problem" (R-IN-3): same site and kind, and the same
-- customer contact or the same location.
CREATE INDEX cases_same_contact ON cases (site, kind, customer_contact, received_at) WHERE customer_contact <> '';
CREATE INDEX cases_same_location ON cases (site, kind, location, received_at) WHERE location <> '';

-- Further reports of a problem already open, attached to its case (R-IN-3).
CREATE TABLE case_reports (
  id               bigint PRIMARY KEY,
  case_id          bigint NOT NULL REFERENCES cases (id),
  channel          smallint NOT NULL,
  customer_name    text NOT NULL,
  customer_contact text NOT NULL,
  location         text NOT NULL,
  description      text NOT NULL,
  occurred_at      timestamptz,
  first_receiver   text NOT NULL,
  external_source  text NOT NULL,
  external_id      text NOT NULL,
  received_at      timestamptz NOT NULL,
  CONSTRAINT case_reports_idempotency UNIQUE (external_source, external_id)
);
CREATE SEQUENCE case_reports_id_seq OWNED BY case_reports.id;
CREATE INDEX case_reports_by_case ON case_reports (case_id, id);

-- The event log. Every service appends its events here in the transaction
-- that makes the change, then publishes them. Positions are 1, 2, 3, ...
-- with no gaps, in commit order: an appender takes the next positions from
-- event_head, whose row lock it holds until it commits, so a later position
-- never becomes visible before an earlier one.
CREATE TABLE events (
  position    bigint PRIMARY KEY,
  type        text NOT NULL,              -- the body's message name: 'CaseReceived', ...
  site        text NOT NULL,
  case_id     bigint,
  recorded_at timestamptz NOT NULL,
  envelope    bytea NOT NULL              -- the caseloop.v1.Envelope as published
);

CREATE TABLE event_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  position bigint NOT NULL               -- the last position taken
);
INSERT INTO event_head (position) VALUES (0);

-- The documented way for other systems to read events with SQL:
--   SELECT * FROM event_log WHERE position > $last ORDER BY position LIMIT 1000;
-- then remember the last position read. No position is ever skipped.
CREATE VIEW event_log AS
  SELECT position, type, site, case_id, recorded_at, envelope FROM events;
