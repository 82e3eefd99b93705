// Keeps the cabins and their devices up to date on the page, and sends device commands
// ("Mesurer"). The page is complete without it; the command buttons appear with it.
const REFRESH_MS = 3000;
const STATE_CLASS = (state) => `device-state state-${state}`;

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getHours()} h ${String(d.getMinutes()).padStart(2, "0")}`;
}

function formatDate(iso) {
  if (!iso) return "jamais";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getDate())}/${pad(d.getMonth() + 1)}/${d.getFullYear()} à ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function updateDevice(item, device) {
  const state = item.querySelector('[data-field="state"]');
  state.textContent = device.state_label;
  state.className = STATE_CLASS(device.state);
  const value = item.querySelector('[data-field="value"]');
  value.textContent = device.last_value === null ? "" : `${device.last_value} ${device.last_unit} · ${formatTime(device.last_at)}`;
  let battery = item.querySelector('[data-field="battery"]');
  if (device.battery_low && !battery) {
    battery = document.createElement("span");
    battery.className = "warning-text";
    battery.dataset.field = "battery";
    battery.textContent = " pile faible";
    state.after(battery);
  } else if (!device.battery_low && battery) {
    battery.remove();
  }
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
    for (const device of cabin.devices) {
      const item = row.querySelector(`li[data-device="${CSS.escape(device.name)}"]`);
      if (item) updateDevice(item, device);
    }
  }
}

async function sendCommand(button) {
  const result = document.querySelector(`[data-cabin-result="${button.dataset.cabin}"]`);
  button.disabled = true;
  result.textContent = `${button.dataset.device} : demande envoyée…`;
  try {
    const response = await fetch(`/api/v1/cabines/${button.dataset.cabin}/commandes`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ device: button.dataset.device, action: button.dataset.action }),
    });
    const body = await response.json();
    if (response.ok) {
      result.textContent = `${button.dataset.device} : ${body.message || (body.ok ? "fait" : "échec")}`;
    } else {
      result.textContent = `${button.dataset.device} : ${body.detail}`;
    }
  } catch {
    result.textContent = `${button.dataset.device} : le hub ne répond pas.`;
  } finally {
    button.disabled = false;
    refresh();
  }
}

for (const button of document.querySelectorAll("button.command")) {
  button.hidden = false;
  button.addEventListener("click", () => sendCommand(button));
}
setInterval(refresh, REFRESH_MS);
