// runner.js - the peer of `scripts/bench escalation`: graphile-worker (the version pinned in
// package.json) executing scheduled no-op jobs on the same PostgreSQL as caseloop-escalation,
// in its own schema (graphile_worker), which it creates.
//
//   node runner.js rate --jobs N --concurrency C [--batched] [--timeout S]
//       N no-op jobs whose run_at is a minute in the past; the worker starts with C concurrent
//       jobs (defaults otherwise: no local queue, no batched completion; --batched turns on a
//       local queue of 100 jobs and completions batched every 0 ms, the library's own
//       throughput settings). Elapsed = from just before run() until the handler has run N
//       times and no job row is left (polled every 20 ms). Last line: peer rate=<jobs/s>
//   node runner.js lag --jobs N --rate R --seconds S --lead L --concurrency C [--batched] [--timeout S]
//       N jobs scheduled: R x S of them due at R per second from L s after the seeding, the
//       rest 1 to 12 days later; per job of the window, lag = when the handler starts (real
//       clock) minus its run_at. Last line: peer lag p50_ms= p99_ms= max_ms= done=<n>/<window>
//
// The database comes from the PG* environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER).
"use strict";

const fs = require("fs");
const path = require("path");
const { performance } = require("perf_hooks");
const { run, runMigrations } = require("graphile-worker");
const pg = require(require.resolve("pg", { paths: [path.dirname(require.resolve("graphile-worker"))] }));
const gwVersion = require("graphile-worker/package.json").version;

function usage(code) {
  (code ? process.stderr : process.stdout).write(
    "usage: node runner.js rate --jobs N --concurrency C [--batched] [--timeout S]\n" +
      "       node runner.js lag --jobs N --rate R --seconds S --lead L --concurrency C [--batched] [--timeout S]\n",
  );
  process.exit(code);
}

function parse(argv) {
  const mode = argv[0];
  if (mode === "-h" || mode === "--help") usage(0);
  if (mode !== "rate" && mode !== "lag") usage(2);
  const o = { mode, jobs: 100000, concurrency: 10, rate: 5000, seconds: 25, lead: 10, grace: 15, timeout: 300, batched: false };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--batched") {
      o.batched = true;
      continue;
    }
    const name = a.replace(/^--/, "");
    if (!a.startsWith("--") || !(name in o) || i + 1 >= argv.length) usage(2);
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 1) {
      process.stderr.write(`peer: ${a} must be a whole number, not "${argv[i]}"\n`);
      process.exit(2);
    }
    o[name] = v;
  }
  return o;
}

const opt = parse(process.argv.slice(2));
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const quiet = {
  // graphile-worker's Logger interface: scope() returns a logger; only errors are shown.
  scope() {
    return quiet;
  },
  error(msg) {
    process.stderr.write(`peer: graphile-worker: ${msg}\n`);
  },
  warn(msg) {
    process.stderr.write(`peer: graphile-worker: ${msg}\n`);
  },
  info() {},
  debug() {},
};

// CPU seconds of a process from /proc, -1 when it cannot be read.
function procCpu(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return -1;
  }
}

function machine() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return { all, busy: all - f[3] - f[4], iowait: f[4] };
}

async function snap(client) {
  const r = await client.query(
    "SELECT pid, application_name = 'graphile-worker' AS gw, pid = pg_backend_pid() AS own FROM pg_stat_activity",
  );
  const cu = process.cpuUsage();
  return {
    t: performance.now(),
    self: (cu.user + cu.system) / 1e6,
    m: machine(),
    pids: r.rows.map((x) => ({ pid: x.pid, gw: x.gw, own: x.own, cpu: procCpu(x.pid) })),
  };
}

function printCpu(a, b) {
  const wall = (b.t - a.t) / 1000;
  let gw = 0,
    other = 0;
  for (const p of b.pids) {
    // A process that was not there at the start (the worker's connections): all its CPU counts.
    const q = a.pids.find((x) => x.pid === p.pid) || { cpu: 0 };
    if (q.cpu < 0 || p.cpu < 0 || p.own) continue;
    if (p.gw) gw += p.cpu - q.cpu;
    else other += p.cpu - q.cpu;
  }
  const all = b.m.all - a.m.all;
  console.log(
    `  cpu over ${wall.toFixed(1)} s (100% = one core): node (worker and runner) ${((100 * (b.self - a.self)) / wall).toFixed(0)}%,` +
      ` the worker's database backends ${((100 * gw) / wall).toFixed(0)}%, other postgres processes ${((100 * other) / wall).toFixed(0)}%;` +
      ` machine busy ${all > 0 ? ((100 * (b.m.busy - a.m.busy)) / all).toFixed(0) : "?"}%, waiting on I/O ${all > 0 ? ((100 * (b.m.iowait - a.m.iowait)) / all).toFixed(0) : "?"}%`,
  );
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  let rank = Math.ceil(p * sorted.length);
  rank = Math.min(Math.max(rank, 1), sorted.length);
  return sorted[rank - 1];
}

// Adds jobs in chunks through graphile_worker.add_jobs (the library's own bulk entry point).
async function addJobs(client, count, runAtSql, params) {
  const chunk = 100000;
  for (let first = 1; first <= count; first += chunk) {
    const last = Math.min(count, first + chunk - 1);
    await client.query(
      "SELECT count(*) FROM graphile_worker.add_jobs(array(SELECT ROW('noop', '{}'::json, NULL, " +
        runAtSql +
        ", NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series($1::int, $2::int) g))",
      [first, last, ...params],
    );
  }
}

async function jobsLeft(client) {
  const r = await client.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs");
  return r.rows[0].n;
}

async function tidy(client) {
  await client.query("VACUUM (ANALYZE) graphile_worker._private_jobs");
  await client.query("CHECKPOINT");
}

function workerOptions(taskList) {
  const o = {
    concurrency: opt.concurrency,
    maxPoolSize: opt.concurrency + 2, // the library's advice: concurrency + 2, or 10, whichever is larger
    noHandleSignals: true,
    logger: quiet,
    taskList,
  };
  if (opt.batched) {
    o.preset = { worker: { localQueue: { size: 100 }, completeJobBatchDelay: 0 } };
  }
  return o;
}

async function rate(client) {
  const n = opt.jobs;
  if ((await jobsLeft(client)) !== 0) throw new Error("graphile_worker already holds jobs");
  let t = performance.now();
  await addJobs(client, n, "now() - interval '1 minute'", []);
  await tidy(client);
  console.log(
    `peer rate: graphile-worker ${gwVersion}, concurrency ${opt.concurrency}, pool ${opt.concurrency + 2} connections,` +
      (opt.batched
        ? " local queue of 100 jobs and completions batched (completeJobBatchDelay 0)"
        : " library defaults otherwise (no local queue, one completion per job)") +
      `; ${n} no-op jobs with run_at a minute ago added in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  let ran = 0,
    allRan;
  const ranAll = new Promise((r) => (allRan = r));
  const a = await snap(client);
  const t0 = performance.now();
  const runner = await run(
    workerOptions({
      noop: async () => {
        if (++ran === n) allRan();
      },
    }),
  );
  const deadline = t0 + opt.timeout * 1000;
  const timer = setTimeout(() => allRan(), Math.max(0, deadline - performance.now()));
  await ranAll;
  clearTimeout(timer);
  let left = await jobsLeft(client);
  while (left > 0 && performance.now() < deadline) {
    await sleep(20);
    left = await jobsLeft(client);
  }
  const t1 = performance.now();
  const b = await snap(client);
  await runner.stop();
  if (left > 0) throw new Error(`${left} of ${n} jobs were not done in time (the handler ran ${ran} times)`);
  const s = (t1 - t0) / 1000;
  const r = n / s;
  console.log(`  ${n} jobs done in ${s.toFixed(2)} s = ${r.toFixed(0)} jobs/s (the handler ran ${ran} times)`);
  printCpu(a, b);
  console.log(`peer rate=${r.toFixed(0)}`);
}

async function lag(client) {
  const n = opt.jobs,
    w = opt.rate * opt.seconds;
  if (w > n) throw new Error("--rate x --seconds exceeds --jobs");
  if ((await jobsLeft(client)) !== 0) throw new Error("graphile_worker already holds jobs");
  let t = performance.now();
  await addJobs(client, n - w, "now() + interval '1 day' + g * (interval '11 days' / $3::int)", [n - w]);
  await tidy(client);
  console.log(
    `peer lag: graphile-worker ${gwVersion}, concurrency ${opt.concurrency},` +
      (opt.batched ? " local queue of 100 jobs and completions batched," : " no local queue, one completion per job,") +
      ` pollInterval 2000 ms (the default); ${n - w} jobs due 1 to 12 days from now added in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const t0us = nowUs() + opt.lead * 1e6;
  t = performance.now();
  await addJobs(client, w, "to_timestamp(($3::bigint + (g - 1)::bigint * 1000000 / $4::int) / 1e6)", [t0us, opt.rate]);
  const tlastUs = t0us + ((w - 1) * 1e6) / opt.rate;
  console.log(
    `  ${w} jobs due at ${opt.rate}/s over ${opt.seconds} s added in ${((performance.now() - t) / 1000).toFixed(1)} s;` +
      ` the window begins in ${((t0us - nowUs()) / 1e6).toFixed(1)} s`,
  );
  const lags = [];
  let allDone;
  const done = new Promise((r) => (allDone = r));
  const runner = await run(
    workerOptions({
      noop: async (_payload, helpers) => {
        const runAt = helpers.job.run_at;
        const due = (runAt instanceof Date ? runAt.getTime() : Date.parse(runAt)) * 1000;
        if (due >= t0us - 1000 && due <= tlastUs + 1000) {
          lags.push(nowUs() - due);
          if (lags.length === w) allDone();
        }
      },
    }),
  );
  const stopAt = Math.min(tlastUs + opt.grace * 1e6, nowUs() + opt.timeout * 1e6);
  let a = null;
  const waitMs = Math.max(0, (t0us - nowUs()) / 1000);
  await sleep(waitMs);
  a = await snap(client);
  const timer = setTimeout(() => allDone(), Math.max(0, (stopAt - nowUs()) / 1000));
  await done;
  clearTimeout(timer);
  const b = await snap(client);
  await runner.stop();
  const sorted = lags.slice().sort((x, y) => x - y);
  const ms = (us) => (us / 1000).toFixed(2);
  console.log(
    `  ${lags.length} of ${w} jobs of the window ran; lag (handler start - run_at): p50 ${ms(pct(sorted, 0.5))} ms,` +
      ` p90 ${ms(pct(sorted, 0.9))} ms, p99 ${ms(pct(sorted, 0.99))} ms, max ${ms(sorted.length ? sorted[sorted.length - 1] : 0)} ms` +
      (lags.length < w ? ` (the rest had not run ${opt.grace} s after the last was due)` : ""),
  );
  printCpu(a, b);
  console.log(
    `peer lag p50_ms=${ms(pct(sorted, 0.5))} p99_ms=${ms(pct(sorted, 0.99))} max_ms=${ms(sorted.length ? sorted[sorted.length - 1] : 0)} done=${lags.length}/${w}`,
  );
  return lags.length === w;
}

async function main() {
  const client = new pg.Client({ application_name: "caseloop-bench-peer" });
  await client.connect();
  let ok = true;
  try {
    await client.query("SET client_min_messages = warning");
    // The worker's own connections carry this name (PGAPPNAME), for the CPU figures.
    process.env.PGAPPNAME = "graphile-worker";
    await runMigrations({ logger: quiet });
    if (opt.mode === "rate") await rate(client);
    else ok = await lag(client);
  } finally {
    await client.end();
  }
  return ok;
}

const hardStop = setTimeout(() => {
  process.stderr.write("peer: aborted: the run did not finish in time\n");
  process.exit(1);
}, (opt.timeout + 15) * 1000);
hardStop.unref();

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    process.stderr.write(`peer: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
