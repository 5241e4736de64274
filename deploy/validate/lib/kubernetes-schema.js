'use strict';
// Validates a Kubernetes object against the OpenAPI schema of its apiVersion and kind, through the generated models
// of kubernetes-models (core and built-in groups) and @kubernetes-models/prometheus-operator (PodMonitor and its
// kin). A kind that neither knows is an error: nothing unchecked passes. The schemas check types, required fields and
// formats; like the API server's schema they do not reject unknown fields, which the policy checks cover where it
// matters (securityContext, resources, probes must be present, so a misspelt one fails there).

/** Where the model of an apiVersion lives: [package, group path]. */
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (!/^[a-z0-9.-]*$/.test(group) || !/^v[0-9a-z]+$/.test(version) || !/^[A-Za-z]+$/.test(kind)) return null;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

/** "Deployment/disttrain-coordinator", for messages. */
function objectName(doc) {
  const name = doc?.metadata?.name ?? doc?.metadata?.generateName ?? '(no name)';
  return `${doc?.kind ?? '(no kind)'}/${name}`;
}

/** "/spec/template/spec/containers/0/readinessProbe/grpc/port" as "spec.template.spec.containers[0].readinessProbe.grpc.port". */
function fieldPath(instancePath) {
  return instancePath.split('/').filter(Boolean).map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : (i ? `.${p}` : p))).join('') || '(the object)';
}

/** The schema problems of one object, each naming the object and the field; empty when it is valid. */
function schemaProblems(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['a document that is not an object'];
  const module = modelModule(doc.apiVersion, doc.kind);
  if (!module) return [`${objectName(doc)}: apiVersion '${doc.apiVersion}' and kind '${doc.kind}' do not name a Kubernetes kind`];
  let Model;
  try {
    Model = require(module)[doc.kind];
  } catch (e) {
    // No model of that name: the kind is unknown. Anything else is a fault of the checker, and surfaces.
    if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
  }
  if (typeof Model !== 'function') return [`${objectName(doc)}: unknown kind ${doc.kind} in ${doc.apiVersion} (no schema to check it against)`];
  try {
    new Model(doc).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    return e.errors.map((err) => err.keyword === 'required'
      ? `${objectName(doc)}: ${fieldPath(`${err.instancePath}/${err.params.missingProperty}`)} is required`
      : `${objectName(doc)}: ${fieldPath(err.instancePath)} ${err.message}`);
  }
}

module.exports = { schemaProblems, objectName };
