-- 005: response clocks (RULES.md section 4). Written by the escalation service.
CREATE TABLE clocks (
  id             bigserial PRIMARY KEY,
  case_id        bigint NOT NULL REFERENCES cases (id),
  site           text NOT NULL,
  code           text NOT NULL,          -- 'C2', 'C3', ...
  name           text NOT NULL,
  state          smallint NOT NULL,      -- caseloop.v1.ClockState
  major          boolean NOT NULL,       -- a major case: the ladder starts higher
  armed_at       timestamptz NOT NULL,
  due_at         timestamptz NOT NULL,
  closed_at      timestamptz,            -- met or cancelled
  stage          smallint NOT NULL,      -- what fires next: warnings, the breach, then each ladder level
  level          smallint NOT NULL DEFAULT 0,
  responsible    text NOT NULL DEFAULT '',
  next_fire_at   timestamptz,            -- NULL when nothing more fires
  policy_version integer,
  CONSTRAINT clocks_one_per_case UNIQUE (case_id, code)
);
-- The firing loop claims due rows by this index with FOR UPDATE SKIP LOCKED.
CREATE INDEX clocks_due ON clocks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX clocks_breached ON clocks (site, id DESC) WHERE level > 0;
