'use strict';
// External programs and file reading shared by the checks.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const yaml = require('js-yaml');

/** Runs a program to completion; a program that cannot be started is reported, not thrown. */
function run(program, args, options = {}) {
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (r.error) return { status: -1, stdout: '', stderr: `${program} could not be run: ${r.error.message}` };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether a program is on the PATH. */
function has(program) {
  return run('sh', ['-c', `command -v ${program}`]).status === 0;
}

/** The documents of a YAML text; empty documents (a trailing ---) are dropped. Throws on a syntax error. */
function yamlDocuments(text, file) {
  return yaml.loadAll(text, null, { filename: file }).filter((d) => d !== null && d !== undefined);
}

function readYaml(file) {
  return yaml.load(fs.readFileSync(file, 'utf8'), { filename: file });
}

/** The first line of an error message, e.g. a YAML syntax error without its code excerpt. */
function firstLine(message) {
  return String(message).split('\n')[0];
}

module.exports = { run, has, yamlDocuments, readYaml, firstLine };
