// Live updates of the consultation pages: reload the waiting room when a patient is ready,
// refresh the vitals of a consultation, and show emergencies raised on the site.
const events = new EventSource("/api/v1/evenements");

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

events.addEventListener("consultation.emergency", (e) => {
  const data = JSON.parse(e.data);
  banner(`Urgence signalée au ${data.site_name} — contact : ${data.contact} ${data.phone}. Urgence vitale : le 15.`);
});

// Reload the waiting room when it changes, unless this page is already leaving (a form
// submitted, e.g. "Rejoindre"): a reload would cancel that navigation.
let leaving = false;
document.addEventListener("submit", () => { leaving = true; });
window.addEventListener("beforeunload", () => { leaving = true; });
for (const kind of ["consultation.ready", "consultation.in_consultation", "consultation.reporting"]) {
  events.addEventListener(kind, () => {
    if (!leaving && document.querySelector('[data-live="waiting-room"]')) window.location.reload();
  });
}

const vitals = document.querySelector("table.vitals");
if (vitals) {
  const id = vitals.dataset.consultation;
  const body = vitals.querySelector('[data-field="observations"]');
  const render = (items) => {
    if (!items.length) return;
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
  setInterval(async () => {
    try {
      const response = await fetch(`/api/v1/consultations/${id}/mesures`, { headers: { Accept: "application/json" } });
      if (response.ok) render(await response.json());
    } catch {
      /* the next tick tries again */
    }
  }, 3000);
}
