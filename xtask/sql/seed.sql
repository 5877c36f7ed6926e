-- Rhythm benchmark data set (issue tracker: users, projects, members, sprints, issues).
--
-- Sent as one multi-statement string (sqlx raw_sql). Before sending, the caller replaces, as
-- plain text, three placeholders written as a name in double braces: ISSUES (number of issues,
-- 1 000 000 for the benchmark), SEED (an integer; the same seed gives the same data set) and
-- VOCABULARY (the words of xtask/sql/vocabulary.txt, most common first, as 'w1','w2',...).
-- Each placeholder appears once, in the configuration step below.
--
-- Every value is a function of (seed, row): hashint8extended, never random(), so parallel
-- plans and row order do not change the result; ids are UUIDs (version 4 layout) made of two
-- such hashes. Timestamps are offsets from the start of the current day (UTC).
--
-- Shape: 2 000 users, 200 projects P001..P200 (P001 the largest, ~7% of the issues, P200 the
-- smallest, ~0.02%), 3..30 memberships per user, 400 sprints, N issues created over the last
-- two years. Titles and descriptions draw words from the vocabulary with a Zipf head (s = 1
-- over the first 60% of the words) and an exponentially decaying tail, so search terms exist
-- at every frequency; bench_terms lists one per target band.
--
-- Bulk path, in one transaction: unlogged helper tables seed_* (dropped at the end), set-based
-- INSERT ... SELECT and parallel CREATE TABLE AS; the issues are inserted in one statement
-- with the plain indexes and the foreign keys of issues dropped, then recreated from their
-- catalog definitions. Ends with ANALYZE. A VACUUM afterwards (not possible inside this
-- transaction) sets the visibility map for index-only scans.

BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL synchronous_commit = off;
SET LOCAL jit = off;
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '1GB';
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL max_parallel_maintenance_workers = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
-- The issue rows come from a prepared statement whose parameters are the word tables: with a
-- generic plan they stay parameters, which parallel workers receive once.
SET LOCAL plan_cache_mode = force_generic_plan;

TRUNCATE users, refresh_tokens, projects, project_members, sprints, issues, issue_events CASCADE;

DROP TABLE IF EXISTS seed_cfg, seed_vocab, seed_projects, seed_members, seed_elig, seed_elig_count,
                     seed_sprint_plan, seed_slots, seed_state, seed_stage, seed_candidates, seed_big_counts,
                     seed_ddl, bench_terms;
-- A prepared statement outlives a failed transaction; clear one left by an earlier failed run.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = 'seed_issue_rows') THEN
        EXECUTE 'DEALLOCATE seed_issue_rows';
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Configuration and helpers
-- ---------------------------------------------------------------------------------------------

CREATE UNLOGGED TABLE seed_vocab AS
SELECT o::int AS r, w FROM unnest(ARRAY[{{VOCABULARY}}]::text[]) WITH ORDINALITY AS t(w, o);
ANALYZE seed_vocab;

-- Word ranks: continuous density 1/(x + q) on [1, r0 + 1) (Zipf, s = 1), then
-- exp(-(x - r0 - 1) / l) / (r0 + 1 + q) up to nv + 1; the rank is floor(x).
-- zh is the mass of the head, zz the total mass.
CREATE UNLOGGED TABLE seed_cfg AS
SELECT n_issues, seed, anchor, nv, r0, zl, zq,
       seed * 64 + 20 AS salt_t, seed * 64 + 22 AS salt_d,
       ln((r0 + 1 + zq) / (1 + zq)) AS zh,
       ln((r0 + 1 + zq) / (1 + zq)) + zl / (r0 + 1 + zq) * (1 - exp(-(nv - r0) / zl)) AS zz
FROM (SELECT {{ISSUES}}::bigint AS n_issues, {{SEED}}::bigint AS seed,
             date_trunc('day', now()) AS anchor,
             (SELECT count(*) FROM seed_vocab)::float8 AS nv) a,
     LATERAL (SELECT floor(0.6 * a.nv) AS r0, (a.nv - floor(0.6 * a.nv)) / 9.0 AS zl, 0.25::float8 AS zq) b;

-- Uniform in [0, 1) from a 64-bit hash.
CREATE FUNCTION pg_temp.seed_u01(h bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (h & 9007199254740991)::float8 / 9007199254740992.0 $$;
-- Deterministic UUID in the version 4 layout from two 64-bit hashes of (seed, kind, i);
-- kind: 1 user, 2 project, 3 sprint, 4 issue.
CREATE FUNCTION pg_temp.seed_uuid(seed bigint, kind int, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex((hashint8extended(i, seed * 16 + kind) & ~61440::bigint) | 16384), 16, '0')
              || to_hex((hashint8extended(i, seed * 16 + kind + 8) & 4611686018427387903) | (-9223372036854775807 - 1)))::uuid $$;

-- Word tables handed to the issue statement. Head: 2^18 equally likely buckets of the head
-- mass, each holding the rank at its middle (0 past the head); tail: 2^18 buckets of the tail.
CREATE FUNCTION pg_temp.seed_rank_table(tail boolean) RETURNS int[] LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN tail
        THEN array_agg(least(c.nv, floor(c.r0 + 1 - c.zl * ln(1 - (i + 0.5) / 262144.0 * (c.zz - c.zh)
                                                                  * (c.r0 + 1 + c.zq) / c.zl)))::int ORDER BY i)
        ELSE array_agg(CASE WHEN (i + 1) / 262144.0 * c.zz <= c.zh
                            THEN least(c.r0, greatest(1, floor((1 + c.zq) * exp((i + 0.5) / 262144.0 * c.zz) - c.zq)))::int
                            ELSE 0 END ORDER BY i) END
    FROM generate_series(0, 262143) i, seed_cfg c
$$;
-- variant 1: lowercase, 2: capitalized, 3: lowercase + '.', 4: capitalized + '.'
CREATE FUNCTION pg_temp.seed_words(variant int) RETURNS name[] LANGUAGE sql STABLE
AS $$
    SELECT array_agg(CASE variant WHEN 1 THEN w WHEN 2 THEN initcap(w)
                                  WHEN 3 THEN w || '.' ELSE initcap(w) || '.' END::name ORDER BY r)
    FROM seed_vocab
$$;

-- ---------------------------------------------------------------------------------------------
-- Users
-- ---------------------------------------------------------------------------------------------

-- password_hash: argon2id (m=19456, t=2, p=1) of 'bench-password-1'.
INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
SELECT pg_temp.seed_uuid(c.seed, 1, u),
       'user' || lpad(u::text, 4, '0') || '@bench.rhythm.test',
       (ARRAY['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Ken', 'Dennis', 'Margaret', 'Edsger', 'Donald',
              'Frances', 'John', 'Radia', 'Tim', 'Sophie', 'Niklaus', 'Karen', 'Leslie', 'Bjarne', 'Guido',
              'Anita', 'Hedy', 'Katherine', 'Annie', 'Carol', 'Dorothy', 'Evelyn', 'Jean', 'Kathleen', 'Marlyn',
              'Ruth', 'Betty', 'Adele', 'Ida', 'Mary', 'Lynn', 'Shafi', 'Silvio', 'Whitfield', 'Martin',
              'Butler', 'Fernando', 'Robin', 'Tony', 'Peter', 'Ivan', 'Charles', 'Andrew', 'Yukihiro', 'Rasmus'])
           [1 + (hashint8extended(u, c.seed * 64 + 1) & 1023)::int % 50]
       || ' ' ||
       (ARRAY['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Ritchie', 'Hamilton', 'Dijkstra',
              'Knuth', 'Allen', 'McCarthy', 'Perlman', 'Berners-Lee', 'Wilson', 'Wirth', 'Jones', 'Lamport',
              'Stroustrup', 'van Rossum', 'Borg', 'Lamarr', 'Johnson', 'Easley', 'Shaw', 'Vaughan', 'Boyd',
              'Bartik', 'Booth', 'Meltzer', 'Teitelbaum', 'Holberton', 'Goldberg', 'Rhodes', 'Keller', 'Conway',
              'Goldwasser', 'Micali', 'Diffie', 'Hellman', 'Lampson', 'Corbato', 'Milner', 'Hoare', 'Naur',
              'Sutherland', 'Bachman', 'Yao', 'Matsumoto', 'Lerdorf'])
           [1 + (hashint8extended(u, c.seed * 64 + 2) & 1023)::int % 50],
       '$argon2id$v=19$m=19456,t=2,p=1$czW3OeA+pcXZy5o9/OtdYw$VLwEi+7nOSUkjBrT8NQusKkOT9XtiGJNM4NAOQLt4S0',
       c.anchor - interval '800 days' + u * interval '30 minutes',
       c.anchor - interval '800 days' + u * interval '30 minutes'
FROM generate_series(1, 2000) u, seed_cfg c;

-- ---------------------------------------------------------------------------------------------
-- Projects: size of P(k) ~ 1 / (k + 20.3)^2.5, so P001 holds ~7% of the issues and the
-- smallest ~0.02%; largest-remainder rounding makes the sizes add up to N exactly.
-- ---------------------------------------------------------------------------------------------

CREATE UNLOGGED TABLE seed_projects AS
WITH w AS (
    SELECT k, 1.0 / power(k + 20.3, 2.5) AS wt FROM generate_series(1, 200) k
), e AS (
    SELECT k, wt, wt / sum(wt) OVER () * c.n_issues AS exact FROM w, seed_cfg c
), f AS (
    SELECT k, wt, floor(exact)::bigint AS base, exact - floor(exact) AS frac FROM e
), s AS (
    SELECT k, wt,
           base + CASE WHEN row_number() OVER (ORDER BY frac DESC, k) <= c.n_issues - sum(base) OVER ()
                       THEN 1 ELSE 0 END AS size
    FROM f, seed_cfg c
)
SELECT k, size, (sum(size) OVER (ORDER BY k) - size)::bigint AS first_g, wt,
       pg_temp.seed_uuid(c.seed, 2, k) AS id,
       c.anchor - interval '730 days'
         + CASE WHEN k = 1 THEN interval '0'
                ELSE floor(360 * pg_temp.seed_u01(hashint8extended(k, c.seed * 64 + 3))) * interval '1 day' END
         AS created_at,
       (k <= 10 OR pg_temp.seed_u01(hashint8extended(k, c.seed * 64 + 4)) < 0.5) AS uses_sprints
FROM s, seed_cfg c;
ALTER TABLE seed_projects ADD COLUMN span_s float8, ADD COLUMN created_s float8;
UPDATE seed_projects p SET span_s = date_part('epoch', c.anchor - p.created_at),
                           created_s = date_part('epoch', p.created_at)
FROM seed_cfg c;
ANALYZE seed_projects;

INSERT INTO projects (id, key, name, description, issue_counter, created_at, updated_at)
SELECT p.id, 'P' || lpad(p.k::text, 3, '0'),
       initcap(v1.w || ' ' || v2.w),
       'Benchmark project ' || p.k || ': ' || v1.w || ' ' || v2.w || ' and ' || v3.w || '.',
       p.size, p.created_at, p.created_at + interval '1 day'
FROM seed_projects p, seed_cfg c, seed_vocab v1, seed_vocab v2, seed_vocab v3
WHERE v1.r = 30 + (hashint8extended(p.k, c.seed * 64 + 5) & 1023)::int % 400
  AND v2.r = 30 + (hashint8extended(p.k, c.seed * 64 + 6) & 1023)::int % 400
  AND v3.r = 30 + (hashint8extended(p.k, c.seed * 64 + 7) & 1023)::int % 400;

-- ---------------------------------------------------------------------------------------------
-- Memberships: user u joins cnt(u) in [3, 30] projects (skewed low), drawn without replacement
-- with weight sqrt(project share) (Efraimidis-Spirakis keys). User (k - 1) * 10 + 1 owns
-- project k, so every project has an owner; other roles: 4% owner, 14% maintainer,
-- 62% member, 20% viewer.
-- ---------------------------------------------------------------------------------------------

CREATE UNLOGGED TABLE seed_members AS
WITH m AS (
    SELECT u, 3 + floor(28 * power(pg_temp.seed_u01(hashint8extended(u, c.seed * 64 + 8)), 2))::int AS cnt
    FROM generate_series(1, 2000) u, seed_cfg c
), keyed AS (
    SELECT m.u, m.cnt, p.k,
           CASE WHEN m.u = (p.k - 1) * 10 + 1 THEN 'Infinity'::float8
                ELSE ln(greatest(pg_temp.seed_u01(hashint8extended(m.u * 256 + p.k, c.seed * 64 + 9)), 1e-300))
                     / sqrt(p.wt) END AS key
    FROM m, seed_projects p, seed_cfg c
), ranked AS (
    SELECT u, k, cnt, row_number() OVER (PARTITION BY u ORDER BY key DESC, k) AS rn FROM keyed
)
SELECT r.u, r.k,
       CASE WHEN r.u = (r.k - 1) * 10 + 1 THEN 'owner'
            WHEN x.role_u < 0.04 THEN 'owner'
            WHEN x.role_u < 0.18 THEN 'maintainer'
            WHEN x.role_u < 0.80 THEN 'member'
            ELSE 'viewer' END AS role,
       pg_temp.seed_u01(hashint8extended(r.u * 256 + r.k, c.seed * 64 + 11)) AS pop
FROM ranked r, seed_cfg c,
     LATERAL (SELECT pg_temp.seed_u01(hashint8extended(r.u * 256 + r.k, c.seed * 64 + 10)) AS role_u) x
WHERE r.rn <= r.cnt;

INSERT INTO project_members (project_id, user_id, role, added_at)
SELECT p.id, pg_temp.seed_uuid(c.seed, 1, m.u), m.role,
       CASE WHEN m.u = (m.k - 1) * 10 + 1 THEN p.created_at
            ELSE p.created_at + (c.anchor - p.created_at)
                                * (0.5 * pg_temp.seed_u01(hashint8extended(m.u * 256 + m.k, c.seed * 64 + 12))) END
FROM seed_members m JOIN seed_projects p ON p.k = m.k, seed_cfg c;

-- Reporters and assignees: members with role member or stronger, numbered 1..cnt per project
-- in popularity order (kj = k * 100000 + number).
CREATE UNLOGGED TABLE seed_elig AS
SELECT m.k::bigint * 100000 + row_number() OVER (PARTITION BY m.k ORDER BY m.pop, m.u) AS kj,
       pg_temp.seed_uuid(c.seed, 1, m.u) AS user_id
FROM seed_members m, seed_cfg c
WHERE m.role <> 'viewer';
CREATE UNLOGGED TABLE seed_elig_count AS
SELECT (kj / 100000)::int AS k, count(*)::int AS cnt FROM seed_elig GROUP BY 1;
ANALYZE seed_elig, seed_elig_count;

-- ---------------------------------------------------------------------------------------------
-- Sprints: 400 over the projects that use sprints (P001..P010 and about half of the others),
-- ~ sqrt(size) each and at least one. Per project, back-to-back two-week sprints: the closed
-- ones, then the active one (started 1..13 days ago), then 0..2 planned ones.
-- Sprint number i of project k has id seed_uuid(seed, 3, k * 1000 + i).
-- ---------------------------------------------------------------------------------------------

CREATE UNLOGGED TABLE seed_sprint_plan AS
WITH sp AS (
    SELECT k, sqrt(wt) AS w FROM seed_projects WHERE uses_sprints
), a AS (
    SELECT k, (400 - count(*) OVER ()) * w / sum(w) OVER () AS exact FROM sp
), b AS (
    SELECT k, floor(exact)::int AS base, exact - floor(exact) AS frac FROM a
), d AS (
    SELECT k, 1 + base + CASE WHEN row_number() OVER (ORDER BY frac DESC, k)
                                   <= (400 - count(*) OVER ()) - sum(base) OVER () THEN 1 ELSE 0 END AS s
    FROM b
), e AS (
    SELECT d.k, d.s,
           CASE WHEN d.s >= 3 THEN 1 + (pg_temp.seed_u01(hashint8extended(d.k, c.seed * 64 + 13)) < 0.4)::int
                WHEN d.s = 2 THEN (pg_temp.seed_u01(hashint8extended(d.k, c.seed * 64 + 13)) < 0.5)::int
                ELSE 0 END AS planned,
           c.anchor::date - 1 - (hashint8extended(d.k, c.seed * 64 + 14) & 1023)::int % 13 AS active_start
    FROM d, seed_cfg c
)
SELECT k, s, planned, s - 1 - planned AS closed, active_start FROM e;
ANALYZE seed_sprint_plan;

INSERT INTO sprints (id, project_id, name, goal, starts_on, ends_on, state, started_at, completed_at,
                     created_at, updated_at)
SELECT pg_temp.seed_uuid(c.seed, 3, sp.k * 1000 + i), p.id, 'Sprint ' || i,
       CASE WHEN i % 3 = 0 THEN '' ELSE 'Finish the ' || v.w || ' work' END,
       t.st, t.st + 13,
       CASE WHEN i <= sp.closed THEN 'closed' WHEN i = sp.closed + 1 THEN 'active' ELSE 'planned' END,
       CASE WHEN i <= sp.closed + 1 THEN c.anchor + (t.st - c.anchor::date) * interval '1 day' + interval '11 hours' END,
       CASE WHEN i <= sp.closed THEN c.anchor + (t.st + 14 - c.anchor::date) * interval '1 day' + interval '10 hours' END,
       CASE WHEN i <= sp.closed + 1 THEN c.anchor + (t.st - 3 - c.anchor::date) * interval '1 day' + interval '9 hours'
            ELSE c.anchor - (i - sp.closed) * interval '1 day' + interval '9 hours' END,
       CASE WHEN i <= sp.closed THEN c.anchor + (t.st + 14 - c.anchor::date) * interval '1 day' + interval '10 hours'
            WHEN i = sp.closed + 1 THEN c.anchor + (t.st - c.anchor::date) * interval '1 day' + interval '11 hours'
            ELSE c.anchor - (i - sp.closed) * interval '1 day' + interval '9 hours' END
FROM seed_sprint_plan sp JOIN seed_projects p ON p.k = sp.k, seed_cfg c,
     LATERAL generate_series(1, sp.s) i,
     LATERAL (SELECT sp.active_start + 14 * (i - sp.closed - 1) AS st) t,
     LATERAL (SELECT w FROM seed_vocab
              WHERE r = 40 + (hashint8extended(sp.k * 1000 + i, c.seed * 64 + 15) & 1023)::int % 300) v;

-- ---------------------------------------------------------------------------------------------
-- Issues, step 1: one slot per issue, g = 1..N (project k owns first_g + 1 .. first_g + size,
-- number n = g - first_g). Issue n of a project is created in the n-th slice of the time from
-- the project's creation to now, so numbers follow creation order. Slots are sorted by
-- creation time, and the later steps keep that order closely, so the heap of issues ends up
-- in creation order across projects, as in production.
-- ---------------------------------------------------------------------------------------------

CREATE UNLOGGED TABLE seed_slots AS
SELECT s.g, s.k, s.n, s.off_s
FROM (SELECT p.first_g + n AS g, p.k, n::bigint AS n, p.created_s,
             -- seconds from the project's creation: issue n in the n-th slice of the time since
             3600 + (p.span_s - 7200)
                    * ((n - 1 + pg_temp.seed_u01(hashint8extended(p.first_g + n, c.seed * 64 + 30))) / p.size) AS off_s
      FROM seed_projects p, seed_cfg c, LATERAL generate_series(1, p.size) n) s
ORDER BY s.created_s + s.off_s;
ANALYZE seed_slots;

-- Step 2: every column but the texts, in parallel. Old issues are mostly closed (70%), recent
-- ones mostly open. Closed issues go to the sprint in which they were resolved (85%), open ones
-- to the active sprint (45%) or a planned one (10%); the rest stay in the backlog, so closed
-- sprints hold only done/cancelled issues. Reporters and assignees are members (role member or
-- stronger), skewed towards a few busy people; 8% of the issues (50% in the backlog) are
-- unassigned; 3% are deleted. Arithmetic in float8 seconds (extract() would use numeric).
CREATE UNLOGGED TABLE seed_state AS
SELECT pg_temp.seed_uuid(c.seed, 4, s.g) AS id,
       p.id AS project_id,
       s.n AS number,
       s.g * 128 AS g128,
       4 + floor(7 * u.tw)::int AS title_words,
       20 + floor(41 * power(u.dw, 3))::int AS desc_words,
       st.status,
       CASE WHEN u.pr < 0.20 THEN 0 WHEN u.pr < 0.45 THEN 1 WHEN u.pr < 0.80 THEN 2 WHEN u.pr < 0.95 THEN 3 ELSE 4 END
         ::smallint AS priority,
       CASE WHEN u.ty < 0.50 THEN 'task' WHEN u.ty < 0.80 THEN 'bug' WHEN u.ty < 0.95 THEN 'feature' ELSE 'story' END
         AS type,
       CASE WHEN u.asg >= CASE WHEN st.status = 'backlog' THEN 0.5 ELSE 0.08 END THEN ea.user_id END AS assignee_id,
       er.user_id AS reporter_id,
       CASE WHEN si.idx IS NOT NULL THEN pg_temp.seed_uuid(c.seed, 3, s.k * 1000 + si.idx) END AS sprint_id,
       CASE WHEN u.pts < CASE WHEN si.idx IS NOT NULL THEN 0.85 ELSE 0.2 END
            THEN (ARRAY[1, 2, 3, 5, 8, 13])[1 + floor(6 * u.pts2)::int] END AS story_points,
       rhythm_rank_for_position(s.n) AS rank,
       1 + floor(6 * power(u.ver, 2))::bigint + cl.closed::int + (u.del < 0.03)::int AS version,
       p.created_at + ts.off_s * interval '1 second' AS created_at,
       p.created_at + (up.upd_s + CASE WHEN u.del < 0.03 THEN (p.span_s - up.upd_s) * u.delt ELSE 0 END)
                      * interval '1 second' AS updated_at,
       CASE WHEN cl.closed THEN p.created_at + st.res_s * interval '1 second' END AS resolved_at,
       CASE WHEN u.del < 0.03 THEN p.created_at + (up.upd_s + (p.span_s - up.upd_s) * u.delt) * interval '1 second' END
         AS deleted_at
FROM seed_slots s
JOIN seed_projects p ON p.k = s.k
JOIN seed_elig_count ec ON ec.k = s.k
LEFT JOIN seed_sprint_plan sp ON sp.k = s.k
CROSS JOIN seed_cfg c
CROSS JOIN LATERAL (
    SELECT pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 31)) AS st,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 32)) AS st2,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 33)) AS res,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 34)) AS tw,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 35)) AS dw,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 36)) AS pr,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 37)) AS ty,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 38)) AS asg,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 39)) AS spr,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 40)) AS pts,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 41)) AS pts2,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 42)) AS ver,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 43)) AS del,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 44)) AS delt,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 45)) AS upd,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 46)) AS rep,
           pg_temp.seed_u01(hashint8extended(s.g, c.seed * 64 + 47)) AS asn) u
-- off_s: seconds from the project's creation to the issue's; age_s: from the issue's to now
CROSS JOIN LATERAL (SELECT s.off_s, p.span_s - s.off_s AS age_s) ts
CROSS JOIN LATERAL (SELECT u.st < 0.05 + 0.65 * (1 - exp(-ts.age_s / (30 * 86400.0))) AS closed) cl
CROSS JOIN LATERAL (
    SELECT CASE WHEN cl.closed THEN CASE WHEN u.st2 < 0.12 THEN 'cancelled' ELSE 'done' END
                WHEN ts.age_s < 21 * 86400 THEN CASE WHEN u.st2 < 0.25 THEN 'backlog' WHEN u.st2 < 0.55 THEN 'todo'
                                                     WHEN u.st2 < 0.83 THEN 'in_progress' ELSE 'in_review' END
                ELSE CASE WHEN u.st2 < 0.55 THEN 'backlog' WHEN u.st2 < 0.85 THEN 'todo'
                          WHEN u.st2 < 0.95 THEN 'in_progress' ELSE 'in_review' END END AS status,
           ts.off_s + ts.age_s * power(u.res, 4) AS res_s) st
-- upd_s: last update (closed: shortly after resolution; open: some time since creation)
CROSS JOIN LATERAL (
    SELECT CASE WHEN cl.closed THEN st.res_s + (p.span_s - st.res_s) * (0.2 * power(u.upd, 3))
                ELSE ts.off_s + ts.age_s * power(u.upd, 0.7) END AS upd_s) up
CROSS JOIN LATERAL (
    SELECT CASE WHEN sp.k IS NULL THEN NULL
                WHEN cl.closed THEN
                     CASE WHEN u.spr >= 0.85 THEN NULL
                          WHEN (p.created_at + st.res_s * interval '1 second')::date >= sp.active_start
                          THEN sp.closed + 1
                          WHEN (p.created_at + st.res_s * interval '1 second')::date >= sp.active_start - 14 * sp.closed
                          THEN sp.closed - (sp.active_start - 1 - (p.created_at + st.res_s * interval '1 second')::date) / 14
                     END
                WHEN u.spr < 0.45 THEN sp.closed + 1
                WHEN u.spr < 0.55 AND sp.planned > 0
                THEN sp.closed + 2 + (hashint8extended(s.g, c.seed * 64 + 48) & 1023)::int % sp.planned
           END AS idx) si
JOIN seed_elig er ON er.kj = s.k::bigint * 100000 + 1 + floor(ec.cnt * power(u.rep, 1.7))::int
JOIN seed_elig ea ON ea.kj = s.k::bigint * 100000 + 1 + floor(ec.cnt * power(u.asn, 2.2))::int;

-- Step 3: the texts, in parallel: a prepared statement whose parameters are the word tables
-- ($1/$2 head/tail rank tables, $3..$6 word variants). Title: 4..10 words, the first
-- capitalized. Description: 20..60 words (skewed low), sentences of ten words.
PREPARE seed_issue_rows(int[], int[], name[], name[], name[], name[]) AS
SELECT x.id, x.project_id, x.number,
       concat_ws(' ',
           $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 1, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 1, c.salt_t + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 2, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 2, c.salt_t + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 3, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 3, c.salt_t + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 4, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 4, c.salt_t + 1) >> 46) + 131073])],
           CASE WHEN x.title_words >= 5 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 5, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 5, c.salt_t + 1) >> 46) + 131073])] END,
           CASE WHEN x.title_words >= 6 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 6, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 6, c.salt_t + 1) >> 46) + 131073])] END,
           CASE WHEN x.title_words >= 7 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 7, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 7, c.salt_t + 1) >> 46) + 131073])] END,
           CASE WHEN x.title_words >= 8 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 8, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 8, c.salt_t + 1) >> 46) + 131073])] END,
           CASE WHEN x.title_words >= 9 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 9, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 9, c.salt_t + 1) >> 46) + 131073])] END,
           CASE WHEN x.title_words >= 10 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 10, c.salt_t) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 10, c.salt_t + 1) >> 46) + 131073])] END) AS title,
       concat_ws(' ',
           $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 1, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 1, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 2, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 2, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 3, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 3, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 4, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 4, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 5, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 5, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 6, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 6, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 7, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 7, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 8, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 8, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 9, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 9, c.salt_d + 1) >> 46) + 131073])],
           $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 10, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 10, c.salt_d + 1) >> 46) + 131073])],
           $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 11, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 11, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 12, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 12, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 13, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 13, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 14, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 14, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 15, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 15, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 16, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 16, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 17, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 17, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 18, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 18, c.salt_d + 1) >> 46) + 131073])],
           $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 19, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 19, c.salt_d + 1) >> 46) + 131073])],
           $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 20, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 20, c.salt_d + 1) >> 46) + 131073])],
           CASE WHEN x.desc_words >= 21 THEN $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 21, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 21, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 22 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 22, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 22, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 23 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 23, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 23, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 24 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 24, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 24, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 25 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 25, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 25, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 26 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 26, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 26, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 27 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 27, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 27, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 28 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 28, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 28, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 29 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 29, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 29, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 30 THEN $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 30, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 30, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 31 THEN $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 31, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 31, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 32 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 32, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 32, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 33 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 33, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 33, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 34 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 34, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 34, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 35 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 35, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 35, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 36 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 36, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 36, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 37 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 37, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 37, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 38 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 38, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 38, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 39 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 39, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 39, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 40 THEN $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 40, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 40, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 41 THEN $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 41, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 41, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 42 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 42, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 42, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 43 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 43, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 43, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 44 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 44, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 44, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 45 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 45, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 45, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 46 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 46, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 46, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 47 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 47, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 47, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 48 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 48, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 48, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 49 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 49, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 49, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 50 THEN $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 50, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 50, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 51 THEN $4[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 51, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 51, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 52 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 52, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 52, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 53 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 53, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 53, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 54 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 54, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 54, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 55 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 55, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 55, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 56 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 56, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 56, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 57 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 57, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 57, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 58 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 58, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 58, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 59 THEN $3[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 59, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 59, c.salt_d + 1) >> 46) + 131073])] END,
           CASE WHEN x.desc_words >= 60 THEN $5[COALESCE(NULLIF($1[(hashint8extended(x.g128 + 60, c.salt_d) >> 46) + 131073], 0), $2[(hashint8extended(x.g128 + 60, c.salt_d + 1) >> 46) + 131073])] END)
           || CASE WHEN x.desc_words % 10 <> 0 THEN '.' ELSE '' END AS description,
       x.status, x.priority, x.type, x.assignee_id, x.reporter_id, x.sprint_id, x.story_points,
       x.rank, x.version, x.created_at, x.updated_at, x.resolved_at, x.deleted_at
FROM seed_state x, seed_cfg c;

CREATE UNLOGGED TABLE seed_stage AS
EXECUTE seed_issue_rows(pg_temp.seed_rank_table(false), pg_temp.seed_rank_table(true),
                        pg_temp.seed_words(1), pg_temp.seed_words(2), pg_temp.seed_words(3), pg_temp.seed_words(4));
DEALLOCATE seed_issue_rows;

-- Step 4: the insert, without the plain indexes, the foreign keys and the (enabled) user
-- triggers of issues: their definitions are read from the catalog (whatever the applied
-- migrations define), they are dropped or disabled for the load, and recreated identically
-- or re-enabled afterwards. Primary key and unique constraints stay.
CREATE UNLOGGED TABLE seed_ddl AS
SELECT 1 AS step, ic.relname::text AS name,
       format('DROP INDEX %I', ic.relname) AS before_load,
       pg_get_indexdef(i.indexrelid) AS after_load
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = 'issues'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid
                                                  AND c.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT 2, c.conname::text,
       format('ALTER TABLE issues DROP CONSTRAINT %I', c.conname),
       format('ALTER TABLE issues ADD CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid))
FROM pg_constraint c
WHERE c.conrelid = 'issues'::regclass AND c.contype = 'f'
UNION ALL
SELECT 3, t.tgname::text,
       format('ALTER TABLE issues DISABLE TRIGGER %I', t.tgname),
       format('ALTER TABLE issues ENABLE TRIGGER %I', t.tgname)
FROM pg_trigger t
WHERE t.tgrelid = 'issues'::regclass AND NOT t.tgisinternal AND t.tgenabled = 'O';

DO $$
DECLARE d record;
BEGIN
    FOR d IN SELECT * FROM seed_ddl ORDER BY step, name LOOP
        EXECUTE d.before_load;
    END LOOP;
END $$;

INSERT INTO issues (id, project_id, number, title, description, status, priority, type,
                    assignee_id, reporter_id, sprint_id, story_points, rank, version,
                    created_at, updated_at, resolved_at, deleted_at)
SELECT id, project_id, number, title, description, status, priority, type,
       assignee_id, reporter_id, sprint_id, story_points, rank, version,
       created_at, updated_at, resolved_at, deleted_at
FROM seed_stage;

-- Step 5: indexes, foreign keys and triggers back, as read in step 4. Data that triggers of
-- issues maintain is rebuilt in one pass: the board totals of migration
-- 20261126000004_board_totals.sql, when that migration is applied.
DO $$
DECLARE d record;
BEGIN
    FOR d IN SELECT * FROM seed_ddl ORDER BY step, name LOOP
        EXECUTE d.after_load;
    END LOOP;
    IF to_regprocedure('rhythm_recount_board_totals()') IS NOT NULL THEN
        PERFORM rhythm_recount_board_totals();
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- bench_terms: for each band (targets at N = 1 000 000, scaled by N / 1 000 000, at least 1)
-- the word whose number of matching live issues is closest. Candidates are the words whose
-- expected count (from the rank distribution) is nearest to the target; their actual counts
-- come from the GIN index for small counts and from one parallel scan for large ones.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE bench_terms (band text PRIMARY KEY, term text NOT NULL, matches bigint NOT NULL);

CREATE UNLOGGED TABLE seed_candidates AS
WITH tokens AS (
    SELECT avg(cnt) AS t FROM (
        SELECT 4 + floor(7 * pg_temp.seed_u01(hashint8extended(g, c.seed * 64 + 34)))
               + 20 + floor(41 * power(pg_temp.seed_u01(hashint8extended(g, c.seed * 64 + 35)), 3)) AS cnt
        FROM generate_series(1, 10000) g, seed_cfg c) s
), cdf AS (
    SELECT v.r, v.w,
           (CASE WHEN v.r + 1 <= c.r0 + 1 THEN ln((v.r + 1 + c.zq) / (1 + c.zq))
                 ELSE c.zh + c.zl / (c.r0 + 1 + c.zq) * (1 - exp(-(v.r + 1 - c.r0 - 1) / c.zl)) END
            - CASE WHEN v.r <= c.r0 + 1 THEN ln((v.r + c.zq) / (1 + c.zq))
                   ELSE c.zh + c.zl / (c.r0 + 1 + c.zq) * (1 - exp(-(v.r - c.r0 - 1) / c.zl)) END) / c.zz AS p
    FROM seed_vocab v, seed_cfg c
), expected AS (
    SELECT cdf.w, c.n_issues * 0.97 * (1 - power(1 - cdf.p, tokens.t)) AS e FROM cdf, tokens, seed_cfg c
), bands AS (
    SELECT band, greatest(1, round(band::numeric * c.n_issues / 1000000))::bigint AS target
    FROM unnest(ARRAY[5, 5000, 30000, 150000, 900000]) band, seed_cfg c
), ranked AS (
    SELECT b.band, b.target, e.w, e.e,
           row_number() OVER (PARTITION BY b.band ORDER BY abs(ln(greatest(e.e, 0.01) / b.target)), e.w) AS rn
    FROM bands b, expected e
)
SELECT band, target, w, e, to_tsquery('english', w) AS q, NULL::bigint AS matches
FROM ranked WHERE rn <= CASE WHEN band >= 150000 THEN 3 ELSE 5 END;

UPDATE seed_candidates c
SET matches = (SELECT count(*) FROM issues i WHERE i.search @@ c.q AND i.deleted_at IS NULL)
WHERE c.e < 0.05 * (SELECT n_issues FROM seed_cfg);

SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_indexscan = off;
CREATE UNLOGGED TABLE seed_big_counts AS
SELECT c.w, count(*) AS matches
FROM seed_candidates c JOIN issues i ON i.search @@ c.q
WHERE i.deleted_at IS NULL AND c.e >= 0.05 * (SELECT n_issues FROM seed_cfg)
GROUP BY c.w;
SET LOCAL enable_bitmapscan = on;
SET LOCAL enable_indexscan = on;
UPDATE seed_candidates c SET matches = b.matches FROM seed_big_counts b WHERE b.w = c.w;

-- (A word with no match is taken only if no candidate has any, which needs a tiny N.)
INSERT INTO bench_terms (band, term, matches)
SELECT DISTINCT ON (band) band::text, w, coalesce(matches, 0)
FROM seed_candidates
ORDER BY band, coalesce(matches, 0) = 0, abs(coalesce(matches, 0) - target), w;

-- ---------------------------------------------------------------------------------------------
-- Clean up and refresh the planner statistics.
-- ---------------------------------------------------------------------------------------------

DROP TABLE seed_cfg, seed_vocab, seed_projects, seed_members, seed_elig, seed_elig_count,
           seed_sprint_plan, seed_slots, seed_state, seed_stage, seed_candidates, seed_big_counts, seed_ddl;
DROP FUNCTION pg_temp.seed_u01(bigint), pg_temp.seed_uuid(bigint, int, bigint),
              pg_temp.seed_rank_table(boolean), pg_temp.seed_words(int);

ANALYZE;
COMMIT;
