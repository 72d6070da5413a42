-- 015: callbacks (RULES.md section 5), written by the callback-scheduler.

-- The deployment's sampling key: what makes a case's draw unpredictable (R-CB-1's share).
CREATE TABLE callback_seed (
  id    smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  seed  bytea NOT NULL CHECK (length(seed) = 16)
);

-- Each closed case's draw, made once however often it closes: it counts once in the
-- month (site time) of its first closing, and a later closing follows the same draw.
CREATE TABLE callback_draws (
  case_id   bigint PRIMARY KEY REFERENCES cases (id),
  site      text NOT NULL,
  kind      smallint NOT NULL,
  month     date NOT NULL,
  sampled   boolean NOT NULL
);

-- Per site, kind and month: the closed cases counted (not skipped by rule) and those called back.
CREATE TABLE callback_tallies (
  site     text NOT NULL,
  kind     smallint NOT NULL,
  month    date NOT NULL,
  counted  integer NOT NULL DEFAULT 0,
  called   integer NOT NULL DEFAULT 0,
  PRIMARY KEY (site, kind, month)
);

-- A callback task: one per closing of a case that is called back.
CREATE TABLE callbacks (
  id             bigserial PRIMARY KEY,
  case_id        bigint NOT NULL REFERENCES cases (id),
  site           text NOT NULL,
  number         integer NOT NULL,          -- 1 for the case's first callback
  closed_position bigint NOT NULL UNIQUE,   -- the CaseUpdated (to CLOSED) it follows: one task a closing
  kind           smallint NOT NULL,
  severity       smallint NOT NULL,
  state          smallint NOT NULL,         -- caseloop.v1.CallbackState
  performer      text,                      -- NULL: nobody of the role could be found
  slot_start     timestamptz,
  slot_end       timestamptz,
  window_start   timestamptz,               -- the window instance it counts against (capacity)
  deadline       timestamptz NOT NULL,
  late           boolean NOT NULL,
  attempts       integer NOT NULL DEFAULT 0,
  modes          smallint NOT NULL,         -- bits 1 << caseloop.v1.CallbackMode
  closed_at      timestamptz NOT NULL,
  slot_missed    boolean NOT NULL DEFAULT false, -- its slot passed with nothing done (CallbackOverdue)
  overdue        boolean NOT NULL DEFAULT false, -- still open at its deadline (CallbackOverdue)
  next_fire_at   timestamptz,               -- the slot's end, then the deadline; NULL once nothing is due
  made_mode      smallint,
  made_by        text,
  made_at        timestamptz,
  recorded_at    timestamptz,
  record         bytea,                     -- caseloop.v1.CallbackRecord, packed
  CONSTRAINT callbacks_number UNIQUE (case_id, number)
);
CREATE INDEX callbacks_due ON callbacks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX callbacks_slots ON callbacks (site, performer, slot_start);
