'use strict';
// Prometheus configurations (deploy/prometheus/*.yml) through `promtool check config`, and Grafana's provisioning
// files, which must at least parse. Debian builds Prometheus without Kubernetes service discovery, so its promtool
// refuses `kubernetes_sd_configs`; such a file is then checked with those blocks swapped for empty static_configs, which
// still checks everything else, relabelling rules included, and the output says so.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const yaml = require('js-yaml');
const { run, has, readYaml, firstLine } = require('./tools');

function promtool(file) {
  const r = run('promtool', ['check', 'config', file]);
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

function checkPrometheusConfig(file) {
  let config;
  try {
    config = readYaml(file);
  } catch (e) {
    return { problems: [`does not parse: ${firstLine(e.message)}`] };
  }
  if (!has('promtool')) return { problems: ['promtool is not installed (run.sh installs Debian\'s prometheus package)'] };
  const first = promtool(file);
  if (first.ok) return { problems: [], detail: 'promtool check config' };
  const lacksKubernetesSd = /field kubernetes_sd_configs not found/.test(first.output);
  if (!lacksKubernetesSd) return { problems: [`promtool check config: ${first.output.replace(/\s*\n\s*/g, '; ')}`] };

  for (const job of config.scrape_configs ?? []) {
    if (job.kubernetes_sd_configs) {
      delete job.kubernetes_sd_configs;
      job.static_configs = [];
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disttrain-validate-'));
  const copy = path.join(dir, path.basename(file));
  try {
    fs.writeFileSync(copy, yaml.dump(config));
    const second = promtool(copy);
    if (!second.ok) return { problems: [`promtool check config (kubernetes_sd_configs set aside): ${second.output.replace(/\s*\n\s*/g, '; ')}`] };
    return { problems: [], detail: 'promtool check config, kubernetes_sd_configs set aside (this promtool is built without Kubernetes discovery)' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function checkYamlParses(file) {
  try {
    const doc = readYaml(file);
    if (doc === null || typeof doc !== 'object') return { problems: ['is empty or not a mapping'] };
    return { problems: [], detail: 'parses' };
  } catch (e) {
    return { problems: [`does not parse: ${firstLine(e.message)}`] };
  }
}

module.exports = { checkPrometheusConfig, checkYamlParses };
