'use strict';
// The rules every pod template in k8s/ must meet, checked offline:
//  - the Pod Security Standard "restricted" (which includes "baseline"), as the API server's admission enforces it
//    in a namespace labelled pod-security.kubernetes.io/enforce: restricted;
//  - this project's own: a read-only root filesystem, and on every container a memory request, a memory limit no
//    smaller than it, and a CPU request (the scheduler's inputs, and the ceiling the .NET GC sizes its heap to).
// Each problem names the object, the container and the field.

/** The pod spec inside a workload, with the path to it, or null for kinds that hold no pod. */
function podSpecOf(doc) {
  switch (doc?.kind) {
    case 'Pod': return { spec: doc.spec, at: 'spec' };
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'ReplicaSet': case 'Job': case 'ReplicationController':
      return { spec: doc.spec?.template?.spec, at: 'spec.template.spec' };
    case 'CronJob': return { spec: doc.spec?.jobTemplate?.spec?.template?.spec, at: 'spec.jobTemplate.spec.template.spec' };
    default: return null;
  }
}

// Pod Security Standards, v1.30 and later (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
const restrictedVolumeTypes = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim',
  'projected', 'secret', 'image']);
const safeSysctls = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const allowedSeLinuxTypes = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const allowedSeccomp = new Set(['RuntimeDefault', 'Localhost']);

/** Bytes in a Kubernetes quantity such as 512Mi, 2Gi, 1e9 or 1G; NaN if it does not parse. */
function bytes(quantity) {
  const m = /^([0-9.]+(?:e[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/.exec(String(quantity));
  if (!m) return NaN;
  const scale = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

/** Problems of one pod spec; `where` names the object and the path to the pod spec. */
function podProblems(pod, where) {
  const problems = [];
  const say = (field, rule) => problems.push(`${where}.${field} ${rule}`);
  if (!pod || typeof pod !== 'object') return [`${where} is missing`];
  const podSc = pod.securityContext ?? {};

  // Baseline: the host's namespaces, ports and files stay out of reach.
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[f] === true) say(f, 'must not be true (Pod Security baseline)');
  if (podSc.windowsOptions?.hostProcess === true) say('securityContext.windowsOptions.hostProcess', 'must not be true (Pod Security baseline)');
  for (const [i, v] of (pod.volumes ?? []).entries()) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!restrictedVolumeTypes.has(type)) say(`volumes[${i}] (${v.name})`, `is a ${type} volume; restricted allows only ${[...restrictedVolumeTypes].join(', ')}`);
  }
  for (const s of podSc.sysctls ?? []) if (!safeSysctls.has(s.name)) say('securityContext.sysctls', `sets ${s.name}, which is not a safe sysctl (Pod Security baseline)`);
  if (podSc.runAsUser === 0) say('securityContext.runAsUser', 'must not be 0 (Pod Security restricted)');
  if (podSc.seccompProfile?.type !== undefined && !allowedSeccomp.has(podSc.seccompProfile.type)) {
    say('securityContext.seccompProfile.type', `is ${podSc.seccompProfile.type}; must be RuntimeDefault or Localhost (Pod Security restricted)`);
  }
  checkSeLinuxAndAppArmor(podSc, 'securityContext', say);

  const groups = [['initContainers', pod.initContainers], ['containers', pod.containers], ['ephemeralContainers', pod.ephemeralContainers]];
  if (!Array.isArray(pod.containers) || pod.containers.length === 0) say('containers', 'must list at least one container');
  for (const [group, list] of groups) {
    for (const [i, c] of (list ?? []).entries()) {
      const at = `${group}[${i}] (${c.name})`;
      const sc = c.securityContext ?? {};
      const field = (f) => `${at}.securityContext.${f}`;
      if (sc.privileged === true) say(field('privileged'), 'must not be true (Pod Security baseline)');
      for (const [j, p] of (c.ports ?? []).entries()) if (p.hostPort) say(`${at}.ports[${j}].hostPort`, 'must be unset (Pod Security baseline)');
      if (sc.procMount !== undefined && sc.procMount !== 'Default') say(field('procMount'), 'must be Default (Pod Security baseline)');
      checkSeLinuxAndAppArmor(sc, `${at}.securityContext`, say);
      if (sc.windowsOptions?.hostProcess === true) say(field('windowsOptions.hostProcess'), 'must not be true (Pod Security baseline)');

      // Restricted.
      if (sc.allowPrivilegeEscalation !== false) say(field('allowPrivilegeEscalation'), 'must be false (Pod Security restricted)');
      const drop = sc.capabilities?.drop ?? [];
      if (!drop.includes('ALL')) say(field('capabilities.drop'), 'must include ALL (Pod Security restricted)');
      for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') say(field('capabilities.add'), `adds ${cap}; restricted allows only NET_BIND_SERVICE`);
      if (sc.runAsNonRoot === false || (sc.runAsNonRoot === undefined && podSc.runAsNonRoot !== true)) {
        say(field('runAsNonRoot'), 'must be true, here or in the pod\'s securityContext (Pod Security restricted)');
      }
      if (sc.runAsUser === 0) say(field('runAsUser'), 'must not be 0 (Pod Security restricted)');
      const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
      if (!allowedSeccomp.has(seccomp)) {
        say(field('seccompProfile.type'), `is ${seccomp ?? 'unset'}, here and in the pod's securityContext; must be RuntimeDefault or Localhost (Pod Security restricted)`);
      }

      // This project's rules (ephemeral debug containers take no resources).
      if (group === 'ephemeralContainers') continue;
      if (sc.readOnlyRootFilesystem !== true) say(field('readOnlyRootFilesystem'), 'must be true (an emptyDir at /tmp gives .NET its writable place)');
      const req = c.resources?.requests ?? {};
      const lim = c.resources?.limits ?? {};
      if (req.memory === undefined) say(`${at}.resources.requests.memory`, 'must be set');
      if (lim.memory === undefined) say(`${at}.resources.limits.memory`, 'must be set');
      if (req.cpu === undefined) say(`${at}.resources.requests.cpu`, 'must be set');
      if (req.memory !== undefined && lim.memory !== undefined && !(bytes(req.memory) <= bytes(lim.memory))) {
        say(`${at}.resources`, `requests.memory ${req.memory} must be a quantity no larger than limits.memory ${lim.memory}`);
      }
    }
  }
  return problems;
}

function checkSeLinuxAndAppArmor(sc, at, say) {
  const se = sc.seLinuxOptions;
  if (se) {
    if (!allowedSeLinuxTypes.has(se.type ?? '')) say(`${at}.seLinuxOptions.type`, `is ${se.type}; not allowed by Pod Security baseline`);
    if (se.user !== undefined || se.role !== undefined) say(`${at}.seLinuxOptions`, 'must not set user or role (Pod Security baseline)');
  }
  const aa = sc.appArmorProfile?.type;
  if (aa !== undefined && aa !== 'RuntimeDefault' && aa !== 'Localhost') say(`${at}.appArmorProfile.type`, `is ${aa}; must be RuntimeDefault or Localhost (Pod Security baseline)`);
}

/** Problems of every pod template in one object (none for kinds that hold no pod). */
function workloadProblems(doc, name) {
  const found = podSpecOf(doc);
  if (!found) return [];
  const problems = podProblems(found.spec, `${name}: ${found.at}`);
  // Pod-level annotations the Pod Security admission also reads (AppArmor before securityContext.appArmorProfile).
  const meta = doc.kind === 'Pod' ? doc.metadata
    : doc.kind === 'CronJob' ? doc.spec?.jobTemplate?.spec?.template?.metadata : doc.spec?.template?.metadata;
  for (const [k, v] of Object.entries(meta?.annotations ?? {})) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !v.startsWith('localhost/')) {
      problems.push(`${name}: annotation ${k} is ${v}; must be runtime/default or localhost/* (Pod Security baseline)`);
    }
  }
  return problems;
}

/** Long-running workloads must say when they are ready and alive. */
function probeProblems(doc, name) {
  if (!['Deployment', 'StatefulSet', 'DaemonSet'].includes(doc?.kind)) return [];
  const { spec, at } = podSpecOf(doc);
  const problems = [];
  for (const [i, c] of (spec?.containers ?? []).entries()) {
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      if (!c[probe]) problems.push(`${name}: ${at}.containers[${i}] (${c.name}).${probe} must be set`);
    }
  }
  return problems;
}

module.exports = { workloadProblems, probeProblems, podSpecOf, bytes };
