// Keeps the cabin status rows of the page up to date (progressive enhancement: the page
// is complete without it).
const REFRESH_MS = 5000;

function formatDate(iso) {
  if (!iso) return "jamais";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getDate())}/${pad(d.getMonth() + 1)}/${d.getFullYear()} à ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

async function refresh() {
  let cabins;
  try {
    const response = await fetch("/api/v1/cabines", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    cabins = await response.json();
  } catch {
    return;
  }
  for (const cabin of cabins) {
    const row = document.querySelector(`tr[data-cabin-id="${cabin.id}"]`);
    if (!row) continue;
    const status = row.querySelector('[data-field="status"]');
    status.textContent = cabin.status_label;
    status.className = `status ${cabin.online ? "online" : "offline"}`;
    row.querySelector('[data-field="last_seen"]').textContent = formatDate(cabin.last_seen_at);
    const devices = cabin.devices.map((d) => (d.model ? `${d.name} (${d.model})` : d.name));
    row.querySelector('[data-field="devices"]').textContent = devices.length ? devices.join(", ") : "—";
  }
}

setInterval(refresh, REFRESH_MS);
