'use strict';
// deploy/docker-compose.yml: Compose's own validation (`docker-compose config -q`, Debian's docker-compose 1.29, which
// reads the file offline; or the `docker compose` plugin where that is what the machine has), then what this project
// asks of its services: a restart policy and a `disttrain health` check on each DistTrain service, a worker's check
// on its own ring port, workers that wait for a healthy coordinator, and the cluster token from a compose secret.
const path = require('node:path');
const { run, has, readYaml, firstLine } = require('./tools');

function composeCommand() {
  if (has('docker-compose')) return ['docker-compose', []];
  if (has('docker') && run('docker', ['compose', 'version']).status === 0) return ['docker', ['compose']];
  return null;
}

/** The value after a flag in an argument list, or undefined. */
function flag(args, name) {
  const at = args.indexOf(name);
  return at >= 0 ? String(args[at + 1]) : undefined;
}

function checkComposeFile(file) {
  const problems = [];
  const compose = composeCommand();
  if (!compose) return { problems: ['neither docker-compose nor the docker compose plugin is installed (run.sh installs Debian\'s docker-compose)'] };
  const [program, prefix] = compose;
  const r = run(program, [...prefix, '-f', file, 'config', '-q']);
  if (r.status !== 0) problems.push(`${program} ${[...prefix, 'config'].join(' ')}: ${(r.stderr || r.stdout).trim().replace(/\s*\n\s*/g, '; ')}`);

  let doc;
  try {
    doc = readYaml(file);
  } catch (e) {
    return { problems: [...problems, `does not parse: ${firstLine(e.message)}`] };
  }
  const services = doc?.services ?? {};
  const ours = Object.entries(services).filter(([, s]) => String(s.image ?? '').split(':')[0].split('/').pop() === 'disttrain');
  const role = (s) => (Array.isArray(s.command) ? s.command[0] : String(s.command ?? '').split(/\s+/)[0]);
  const coordinator = ours.find(([, s]) => role(s) === 'coordinator')?.[0];
  if (!coordinator) problems.push('no DistTrain service runs `coordinator`');
  for (const [name, s] of ours) {
    const command = Array.isArray(s.command) ? s.command.map(String) : String(s.command ?? '').split(/\s+/);
    const test = (Array.isArray(s.healthcheck?.test) ? s.healthcheck.test : [String(s.healthcheck?.test ?? '')]).join(' ');
    if (!s.restart) problems.push(`services.${name}.restart must be set`);
    if (!/\bdisttrain health\b/.test(test)) problems.push(`services.${name}.healthcheck.test must run \`disttrain health\`, got '${test}'`);
    const tokenFile = flag(command, '--token-file');
    const secret = tokenFile?.startsWith('/run/secrets/') ? tokenFile.slice('/run/secrets/'.length) : undefined;
    const listed = (s.secrets ?? []).map((x) => (typeof x === 'string' ? x : x.source));
    if (!secret) problems.push(`services.${name}.command must pass --token-file /run/secrets/NAME (the cluster token as a compose secret)`);
    else if (!listed.includes(secret)) problems.push(`services.${name}.secrets must list ${secret}, which its --token-file reads`);
    else if (!doc.secrets?.[secret]?.file) problems.push(`secrets.${secret}.file must name the token file`);
    // Host networking: every listener must name loopback, or it is open on every interface of the host (the
    // commands' own defaults are 0.0.0.0).
    if (s.network_mode === 'host') {
      for (const option of ['--bind', ...(flag(command, '--metrics-port') ? ['--metrics-bind'] : [])]) {
        const value = flag(command, option);
        if (value !== '127.0.0.1') problems.push(`services.${name}.command must pass ${option} 127.0.0.1 on the host network, got ${value ?? 'its default, 0.0.0.0'}`);
      }
    }
    if (role(s) === 'worker') {
      const port = flag(command, '--port');
      const address = /--address\s+(\S+)/.exec(test)?.[1];
      if (!address || !address.endsWith(`:${port}`)) {
        problems.push(`services.${name}.healthcheck.test must ask the worker's own ring port (--address http://127.0.0.1:${port}), got '${test}'`);
      }
      const dependsOn = Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {});
      if (coordinator && dependsOn[coordinator]?.condition !== 'service_healthy') {
        problems.push(`services.${name}.depends_on.${coordinator}.condition must be service_healthy`);
      }
    }
  }
  // The token file itself must stay out of git.
  for (const [name, secret] of Object.entries(doc?.secrets ?? {})) {
    if (!secret?.file || !has('git')) continue;
    const tokenPath = path.join(path.dirname(file), secret.file);
    if (run('git', ['ls-files', '--error-unmatch', tokenPath]).status === 0) problems.push(`secrets.${name}.file ${tokenPath} is committed`);
    else if (run('git', ['rev-parse', '--git-dir']).status === 0 && run('git', ['check-ignore', '-q', tokenPath]).status !== 0) {
      problems.push(`secrets.${name}.file ${tokenPath} is not ignored by git`);
    }
  }
  return { problems, detail: `${program === 'docker' ? 'docker compose' : program} config, and ${ours.length} DistTrain services (${ours.map(([n]) => n).join(', ')})` };
}

module.exports = { checkComposeFile };
