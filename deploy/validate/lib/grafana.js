'use strict';
// The Grafana dashboard (deploy/grafana/dashboards/disttrain.json). DistTrain's per-job label is `job_id`: `job` is
// the label Prometheus gives every target (its scrape job), so a query that filters, groups or names series by a
// bare `job` mixes up or drops DistTrain's jobs. The dashboard must:
//  - parse as JSON, with panels;
//  - have a datasource template variable, and no panel or query pinned to one datasource instead of it (so the
//    dashboard imports into any Grafana);
//  - have `job_id` and `rank` template variables, each drawing on its own label;
//  - nowhere use a bare `job` label: in a matcher (job="...", job=~...), a by/without/on/ignoring/group list, a
//    label_values() call or a legend ({{job}}).
const fs = require('node:fs');

/** Every panel, rows' nested panels included. */
function allPanels(panels) {
  return (panels ?? []).flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every way a text uses a bare `job` label (none: an empty list). */
function bareJobUses(text) {
  if (typeof text !== 'string') return [];
  const uses = [];
  for (const m of text.matchAll(/(?<![\w.:])job\s*(=~|!~|!=|=(?!=))\s*("[^"]*"|'[^']*'|`[^`]*`)?/g)) uses.push(`the matcher ${m[0].trim()}`);
  for (const m of text.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    if (m[2].split(',').map((l) => l.trim()).includes('job')) uses.push(`${m[1]} (${m[2]})`);
  }
  if (/label_values\s*\([^)]*?(?<![\w])job\s*\)/.test(text)) uses.push('label_values(..., job)');
  if (/\{\{\s*job\s*\}\}/.test(text)) uses.push('the legend {{job}}');
  return uses;
}

/** A datasource reference that names the variable `name`: "${ds}", "$ds" or "[[ds]]", as a string or as a uid. */
function refersTo(datasource, name) {
  const ref = typeof datasource === 'string' ? datasource : datasource?.uid;
  return ref === `$${name}` || ref === `\${${name}}` || ref === `[[${name}]]`;
}

function checkDashboard(file) {
  let d;
  try {
    d = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { problems: [`does not parse as JSON: ${e.message}`] };
  }
  const problems = [];
  const vars = d.templating?.list ?? [];
  const panels = allPanels(d.panels);
  if (panels.length === 0) problems.push('has no panels');

  const datasourceVar = vars.find((v) => v.type === 'datasource');
  if (!datasourceVar) problems.push('templating.list needs a datasource variable (type "datasource", query "prometheus")');
  else if (datasourceVar.query !== 'prometheus') problems.push(`the datasource variable ${datasourceVar.name} must list Prometheus datasources (query "prometheus"), got '${datasourceVar.query}'`);

  for (const label of ['job_id', 'rank']) {
    const v = vars.find((x) => x.name === label);
    const query = typeof v?.query === 'string' ? v.query : (v?.query?.query ?? v?.definition ?? '');
    if (!v) problems.push(`templating.list needs a variable named ${label}`);
    else if (!new RegExp(`\\b${label}\\b`).test(query)) problems.push(`the ${label} variable's query must draw on the ${label} label, got '${query}'`);
  }
  for (const v of vars) {
    for (const text of [v.definition, typeof v.query === 'string' ? v.query : v.query?.query]) {
      for (const use of bareJobUses(text)) problems.push(`variable ${v.name}: ${use} in '${text}'; the label is job_id`);
    }
  }

  for (const p of panels) {
    const title = `panel '${p.title ?? p.id}'`;
    if (p.datasource && datasourceVar && !refersTo(p.datasource, datasourceVar.name)) {
      problems.push(`${title}: datasource ${JSON.stringify(p.datasource)} must be the variable \${${datasourceVar.name}}`);
    }
    for (const t of p.targets ?? []) {
      if (t.datasource && datasourceVar && !refersTo(t.datasource, datasourceVar.name)) {
        problems.push(`${title}: query ${t.refId ?? ''} datasource ${JSON.stringify(t.datasource)} must be the variable \${${datasourceVar.name}}`);
      }
      for (const text of [t.expr, t.legendFormat]) {
        for (const use of bareJobUses(text)) problems.push(`${title}: ${use} in '${text}'; the label is job_id`);
      }
    }
  }
  const queries = panels.reduce((n, p) => n + (p.targets ?? []).length, 0);
  return { problems, detail: `${panels.length} panels, ${queries} queries, variables ${vars.map((v) => v.name).join(', ') || 'none'}` };
}

module.exports = { checkDashboard };
