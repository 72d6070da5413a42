-- 011: a case promises nothing when its site had no policy at receipt (R-IN-2):
-- respond_by is then NULL.
ALTER TABLE cases
  ALTER COLUMN respond_by DROP NOT NULL;
