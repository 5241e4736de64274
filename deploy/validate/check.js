'use strict';
// Checks DistTrain's deployment files offline and prints one line per file (its problems under it), then a summary;
// exits 1 on any problem. Then it runs the same checks on the deliberately broken files in broken/, each of which
// must be rejected with the problems broken/expectations.json names: a check that accepts one of them is itself broken.
//   node deploy/validate/check.js              every deployment file in the repository, then broken/
//   node deploy/validate/check.js KIND FILE    one file; KIND: k8s, compose, dashboard, prometheus, dockerfile
// run.sh installs what this needs (npm packages, kubectl is expected, docker-compose and promtool from apt).
const fs = require('node:fs');
const path = require('node:path');
const { checkFolder, checkManifestFile } = require('./lib/kubernetes');
const { checkComposeFile } = require('./lib/compose');
const { checkDashboard } = require('./lib/grafana');
const { checkPrometheusConfig, checkYamlParses } = require('./lib/prometheus');
const { checkDockerfile } = require('./lib/dockerfile');

const root = path.resolve(__dirname, '../..');
process.chdir(root);

const checks = {
  k8s: (file) => checkManifestFile(file),
  compose: (file) => checkComposeFile(file),
  dashboard: (file) => checkDashboard(file),
  prometheus: (file) => checkPrometheusConfig(file),
  dockerfile: (file) => checkDockerfile(file, root),
};

/** Runs a check, turning a crash of the checker into a problem of the file rather than a stack trace. */
function attempt(fn) {
  try {
    return fn();
  } catch (e) {
    return { problems: [`the check itself failed: ${e.stack ?? e}`] };
  }
}

function print(ok, label, detail, lines) {
  console.log(`${ok ? 'ok  ' : 'FAIL'}  ${label}${detail ? `  (${detail})` : ''}`);
  for (const l of lines) console.log(`        ${l}`);
}

function filesIn(dir, pattern) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? filesIn(p, pattern) : (pattern.test(d.name) ? [p] : []);
  }).sort();
}

/** The repository's own files: [label, result] pairs. */
function repositoryChecks() {
  return [
    ['Dockerfile', attempt(() => checkDockerfile('Dockerfile', root))],
    ['deploy/docker-compose.yml', attempt(() => checkComposeFile('deploy/docker-compose.yml'))],
    ...filesIn('deploy/prometheus', /\.ya?ml$/).map((f) => [f, attempt(() => checkPrometheusConfig(f))]),
    ...filesIn('deploy/grafana/provisioning', /\.ya?ml$/).map((f) => [f, attempt(() => checkYamlParses(f))]),
    ...filesIn('deploy/grafana/dashboards', /\.json$/).map((f) => [f, attempt(() => checkDashboard(f))]),
    ...kubernetesChecks(),
  ];
}

function kubernetesChecks() {
  try {
    return checkFolder('k8s');
  } catch (e) {
    return [['k8s/', { problems: [`the check itself failed: ${e.stack ?? e}`] }]];
  }
}

/** Each broken file must be rejected, with every problem its expectation names. */
function brokenChecks() {
  const dir = path.join('deploy/validate/broken');
  const expectations = JSON.parse(fs.readFileSync(path.join(dir, 'expectations.json'), 'utf8'));
  const results = [];
  for (const name of fs.readdirSync(dir).filter((f) => f !== 'expectations.json').sort()) {
    const file = path.join(dir, name);
    const e = expectations[name];
    if (!e || !checks[e.check]) {
      results.push([file, false, `expectations.json names no check for it (one of ${Object.keys(checks).join(', ')})`, []]);
      continue;
    }
    const { problems } = attempt(() => checks[e.check](file));
    const missing = e.expect.filter((x) => !problems.some((p) => p.includes(x)));
    if (problems.length === 0) results.push([file, false, `ACCEPTED by the ${e.check} check, which must reject it`, []]);
    else if (missing.length) results.push([file, false, `rejected, but not for: ${missing.join(' | ')}`, problems]);
    else results.push([file, true, `rejected by the ${e.check} check as expected, ${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems]);
  }
  return results;
}

function main(argv) {
  if (argv.length === 2) {
    const [kind, file] = argv;
    if (!checks[kind]) {
      console.error(`check.js: unknown kind '${kind}'; use one of ${Object.keys(checks).join(', ')}`);
      return 2;
    }
    const { problems, detail } = attempt(() => checks[kind](file));
    print(problems.length === 0, file, detail, problems);
    return problems.length === 0 ? 0 : 1;
  }
  if (argv.length !== 0) {
    console.error('usage: node deploy/validate/check.js [KIND FILE]');
    return 2;
  }
  let passed = 0;
  let failed = 0;
  for (const [label, { problems, detail }] of repositoryChecks()) {
    print(problems.length === 0, label, detail, problems);
    if (problems.length === 0) passed++; else failed++;
  }
  console.log('-- the broken files in deploy/validate/broken/ must be rejected:');
  let rejected = 0;
  let accepted = 0;
  for (const [file, ok, detail, problems] of brokenChecks()) {
    print(ok, file, detail, problems);
    if (ok) rejected++; else accepted++;
  }
  console.log(`deploy/validate: ${passed} files passed, ${failed} failed; ${rejected} broken files rejected as expected, ${accepted} not`);
  return failed === 0 && accepted === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
