'use strict';
// The Kubernetes manifests: what `kubectl kustomize k8s/` renders, each k8s/*.yaml on its own, and the settings that
// the files outside the kustomization (the Job, the PodMonitor) must share with it.
const fs = require('node:fs');
const path = require('node:path');
const { run, has, yamlDocuments, readYaml, firstLine } = require('./tools');
const { schemaProblems, objectName } = require('./kubernetes-schema');
const { workloadProblems, probeProblems, podSpecOf } = require('./pod-policy');

/** Every problem of one object: its schema, its pods, and the rules for namespaces and secrets. */
function objectProblems(doc) {
  const name = objectName(doc);
  const problems = [...schemaProblems(doc), ...workloadProblems(doc, name), ...probeProblems(doc, name)];
  if (doc?.kind === 'Namespace' && doc.metadata?.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted') {
    problems.push(`${name}: metadata.labels must hold pod-security.kubernetes.io/enforce: restricted`);
  }
  if (doc?.kind === 'Secret' && (doc.data || doc.stringData)) {
    problems.push(`${name}: a Secret with data is committed; the cluster token is created with kubectl, never kept in the repository`);
  }
  return problems;
}

function documentsProblems(docs) {
  return docs.flatMap(objectProblems);
}

/** One manifest file on its own. */
function checkManifestFile(file) {
  let docs;
  try {
    docs = yamlDocuments(fs.readFileSync(file, 'utf8'), file);
  } catch (e) {
    return { problems: [`does not parse: ${firstLine(e.message)}`] };
  }
  if (docs.length === 0) return { problems: ['holds no Kubernetes object'] };
  return { problems: documentsProblems(docs), detail: docs.map(objectName).join(', ') };
}

/** What `kubectl kustomize DIR` renders (or `kustomize build DIR`), checked object by object. */
function checkKustomization(dir) {
  let r;
  if (has('kubectl')) r = run('kubectl', ['kustomize', dir]);
  else if (has('kustomize')) r = run('kustomize', ['build', dir]);
  else return { problems: ['neither kubectl nor kustomize is installed, so the kustomization cannot be rendered'] };
  if (r.status !== 0) return { problems: [`does not render: ${r.stderr.trim()}`] };
  const docs = yamlDocuments(r.stdout, `${dir} (rendered)`);
  return { problems: documentsProblems(docs), detail: `${docs.length} objects: ${docs.map(objectName).join(', ')}` };
}

/**
 * The files that kustomization.yaml leaves out are applied on their own, so they must name the namespace and the
 * image that it sets, and a Job must not ask for more workers than the StatefulSet runs.
 */
function checkOutsideFiles(dir) {
  const kustomizationFile = path.join(dir, 'kustomization.yaml');
  const k = readYaml(kustomizationFile);
  const problems = [];
  const inside = new Set((k.resources ?? []).map((r) => path.normalize(r)));
  const image = (k.images ?? []).find((i) => i.name === 'disttrain');
  const expectedImage = image ? `${image.newName ?? image.name}:${image.newTag ?? 'latest'}` : null;
  const workers = (k.replicas ?? []).find((r) => r.name === 'disttrain-worker')?.count;
  const outside = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && !inside.has(f)).sort();
  for (const file of outside) {
    for (const doc of yamlDocuments(fs.readFileSync(path.join(dir, file), 'utf8'), file)) {
      const name = `${file}: ${objectName(doc)}`;
      if (k.namespace && doc.metadata?.namespace !== k.namespace) {
        problems.push(`${name}: metadata.namespace is ${doc.metadata?.namespace ?? 'unset'}; kustomization.yaml sets ${k.namespace}`);
      }
      const pod = podSpecOf(doc);
      for (const c of [...(pod?.spec?.initContainers ?? []), ...(pod?.spec?.containers ?? [])]) {
        if (expectedImage && c.image !== expectedImage && c.image?.split(':')[0].split('/').pop() === 'disttrain') {
          problems.push(`${name}: container ${c.name} runs ${c.image}; kustomization.yaml sets ${expectedImage}`);
        }
        const args = [...(c.command ?? []), ...(c.args ?? [])];
        const at = args.indexOf('--workers');
        if (at >= 0 && workers !== undefined && Number(args[at + 1]) > workers) {
          problems.push(`${name}: container ${c.name} asks for --workers ${args[at + 1]}, but kustomization.yaml runs ${workers}`);
        }
      }
    }
  }
  return { problems, detail: `${outside.join(', ') || 'no files'}, applied on their own, against its namespace, image and workers` };
}

/** Every check of the k8s/ folder, as [label, result] pairs. */
function checkFolder(dir) {
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
  return [
    [`kubectl kustomize ${dir}/`, checkKustomization(dir)],
    ...files.map((f) => [path.join(dir, f), checkManifestFile(path.join(dir, f))]),
    [`${dir}/kustomization.yaml`, checkOutsideFiles(dir)],
  ];
}

module.exports = { checkFolder, checkManifestFile };
