// Live updates of the consultation pages: reload the waiting room when a patient is ready,
// add each measurement stored during the consultation to its vitals, and show emergencies
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

const vitals = document.querySelector("table.vitals");
if (vitals) {
  const id = vitals.dataset.consultation;
  const booking = Number(vitals.dataset.booking);
  const body = vitals.querySelector('[data-field="observations"]');
  const known = new Map(); // "cabin:seq" → observation, once the page has caught up or heard it
  const render = () => {
    if (!known.size) return;
    const items = [...known.values()].sort((a, b) => new Date(a.measured_at) - new Date(b.measured_at));
    body.replaceChildren(...items.map((o) => {
      const row = document.createElement("tr");
      const t = new Date(o.measured_at);
      for (const text of [`${t.getHours()} h ${String(t.getMinutes()).padStart(2, "0")}`, o.label, `${o.value} ${o.unit_display}`, o.device]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
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
