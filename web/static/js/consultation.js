// Live updates of the consultation pages: reload the waiting room when a patient is ready,
// keep the vitals panel live with each measurement stored during the consultation, and show emergencies
// raised on the site. Everything comes from the page's event stream; nothing is polled.
import { on, whenConnected } from "./events.js";

function banner(text) {
  let box = document.querySelector("#live-alert");
  if (!box) {
    box = document.createElement("p");
    box.id = "live-alert";
    box.className = "warning";
    box.setAttribute("role", "alert");
    document.querySelector("main").prepend(box);
  }
  box.textContent = text;
}

on("consultation.emergency", (data) => {
  banner(`Urgence signalée au ${data.site_name} — contact : ${data.contact} ${data.phone}. Urgence vitale : le 15.`);
});

// Reload the waiting room when it changes, unless this page is already leaving (a form
// submitted, e.g. "Rejoindre"): a reload would cancel that navigation.
let leaving = false;
document.addEventListener("submit", () => { leaving = true; });
window.addEventListener("beforeunload", () => { leaving = true; });
for (const kind of ["consultation.ready", "consultation.in_consultation", "consultation.reporting"]) {
  on(kind, () => {
    if (!leaving && document.querySelector('[data-live="waiting-room"]')) window.location.reload();
  });
}

// The vitals panel (hub/consoles/vitals.py renders it; the same rules here): each measure's
// latest value, blood pressure as systolic/diastolic (mean) of one reading, "hors normes" as
// the hub marked it against the devices registry; the history newest first, one row per
// blood-pressure reading, other devices' readings summarised per minute.
const panel = document.querySelector("[data-vitals]");
if (panel) {
  const config = JSON.parse(panel.querySelector('[data-field="vitals-config"]').textContent);
  const id = panel.dataset.consultation;
  const booking = Number(panel.dataset.booking);
  const clock = new Intl.DateTimeFormat("fr-FR", { hour: "numeric", minute: "2-digit", hourCycle: "h23", timeZone: config.timezone });
  const time = (ms) => {
    const parts = Object.fromEntries(clock.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
    return `${Number(parts.hour)} h ${parts.minute}`;
  };
  // As the hub writes it: one decimal at most, rounded on the exact value, a French comma.
  const number = (v) => String(Number(v.toFixed(1))).replace(".", ",");
  const element = (tag, className, text) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const flag = () => element("strong", "flag", config.alert_label);
  const known = new Map(); // "cabin:seq" → observation, once the page has caught up or heard it

  const readingsOf = () => {
    const readings = new Map();
    const items = [...known.values()].map((o) => ({ ...o, at: new Date(o.measured_at).getTime() }));
    items.sort((a, b) => a.at - b.at || a.cabin_id - b.cabin_id || a.seq - b.seq);
    for (const o of items) {
      const key = `${o.cabin_id}|${o.device}|${o.at}`;
      if (!readings.has(key)) readings.set(key, { at: o.at, device: o.device, values: {} });
      readings.get(key).values[o.kind] = o;
    }
    return [...readings.values()];
  };
  const isPressure = (r) => config.measures.some((m) => m.kinds.length > 1 && m.kinds.some((k) => k in r.values));

  // A measure's latest value among readings: figure, mean, unit, time, device, alert.
  const latest = (measure, readings) => {
    const [headline, second, mean] = measure.kinds;
    const r = [...readings].reverse().find((x) => headline in x.values);
    if (!r) return null;
    const shown = [headline, second].filter((k) => k && k in r.values).map((k) => r.values[k]);
    return {
      figure: shown.map((o) => number(o.value)).join("/"),
      mean: mean && mean in r.values ? number(r.values[mean].value) : "",
      unit: r.values[headline].unit_display,
      at: r.at,
      device: r.device,
      alert: shown.some((o) => o.status !== "normal"),
    };
  };

  const tile = (measure, value) => {
    const box = element("div", value && value.alert ? "tile alert" : "tile");
    box.dataset.measure = measure.key;
    box.append(element("p", "tile-label", measure.label));
    const figure = element("p", "tile-value");
    const meta = element("p", "tile-meta");
    if (value) {
      figure.append(element("span", "figure", value.figure));
      if (value.mean) figure.append(" ", element("span", "mean", `(${value.mean})`));
      figure.append(" ", element("span", "unit", value.unit));
      if (value.alert) meta.append(flag(), " · ");
      meta.append(`${time(value.at)} · ${value.device}`);
    } else {
      figure.append(element("span", "figure", "—"));
      meta.append("pas encore mesuré");
    }
    box.append(figure, meta);
    return box;
  };

  // Each measure of some readings of one device: its value, or its range and its last.
  const items = (readings) => {
    const out = [];
    for (const measure of config.measures) {
      const headline = measure.kinds[0];
      const withIt = readings.filter((r) => headline in r.values);
      if (!withIt.length) continue;
      if (measure.kinds.length > 1) {
        const v = latest(measure, withIt);
        out.push({ label: measure.short, text: `${v.figure}${v.mean ? ` (${v.mean})` : ""} ${v.unit}`, alert: v.alert });
        continue;
      }
      const values = withIt.map((r) => r.values[headline]);
      const low = Math.min(...values.map((o) => o.value));
      const high = Math.max(...values.map((o) => o.value));
      const last = values[values.length - 1];
      const text = low === high
        ? `${number(low)} ${last.unit_display}`
        : `${number(low)}–${number(high)} ${last.unit_display} (dernier ${number(last.value)})`;
      out.push({ label: measure.short, text, alert: values.some((o) => o.status !== "normal") });
    }
    return out;
  };

  const historyOf = (readings) => {
    const rows = [];
    const minutes = new Map();
    for (const r of readings) {
      if (isPressure(r)) rows.push({ at: r.at, device: r.device, items: items([r]), readings: 1 });
      else {
        const key = `${r.device}|${Math.floor(r.at / 60000)}`;
        if (!minutes.has(key)) minutes.set(key, []);
        minutes.get(key).push(r);
      }
    }
    for (const group of minutes.values()) {
      rows.push({ at: group[0].at, device: group[0].device, items: items(group), readings: group.length });
    }
    return rows.sort((a, b) => b.at - a.at);
  };

  const render = () => {
    if (!known.size) return;
    const readings = readingsOf();
    const monitor = panel.querySelector('[data-field="monitor"]');
    // A tile's "Mesurer" (rendered by the hub, wired by cabins.js) moves to the new tile.
    const actions = new Map([...monitor.querySelectorAll(".tile-actions")].map((a) => [a.closest("[data-measure]").dataset.measure, a]));
    monitor.replaceChildren(...config.measures.flatMap((m) => {
      const value = latest(m, readings);
      if (!value && m.optional) return [];
      const box = tile(m, value);
      if (actions.has(m.key)) box.append(actions.get(m.key));
      return [box];
    }));
    const rows = historyOf(readings);
    panel.querySelector('[data-field="history-count"]').textContent = String(rows.length);
    panel.querySelector('[data-field="history"]').replaceChildren(...rows.map((row) => {
      const tr = element("tr");
      const measures = element("td");
      row.items.forEach((item, i) => {
        const span = element("span", item.alert ? "item alert" : "item", `${item.label} ${item.text}`);
        if (item.alert) span.append(" ", flag());
        if (i) measures.append(" · ");
        measures.append(span);
      });
      tr.append(
        element("td", "", time(row.at)),
        element("td", "", row.readings > 1 ? `${row.device} (${row.readings} relevés)` : row.device),
        measures,
      );
      return tr;
    }));
  };
  const add = (o) => known.set(`${o.cabin_id}:${o.seq}`, o);
  on("observation.stored", (o) => {
    if (o.booking_id !== booking) return;
    add(o);
    render();
  });
  // What was stored while the stream was closed (before it opened, or during a drop).
  whenConnected(async () => {
    try {
      const response = await fetch(`/api/v1/consultations/${id}/mesures`, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      for (const o of await response.json()) add(o);
      render();
    } catch {
      /* the next connection catches up */
    }
  });
}
