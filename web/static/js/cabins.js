// Keeps the cabins and their devices up to date on the page from the page's event stream
// (a cabin online or offline, a device's state; its last value for those who may see
// measurements), and sends device commands ("Mesurer"). The page is complete without it; the
// command buttons appear with it. Nothing is polled: the cabins are read once each time the
// stream (re)connects, to catch up on what happened while it was closed.
import { on, whenConnected } from "./events.js";

const STATE_CLASS = (state) => `device-state state-${state}`;

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

// Times in the site's time zone (its row says which), as the server writes them: the nurse's
// computer may be set otherwise.
function parts(iso, timeZone) {
  const format = new Intl.DateTimeFormat("fr-FR", {
    timeZone: timeZone || "Europe/Paris",
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  return Object.fromEntries(format.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
}

function formatTime(iso, timeZone) {
  if (!iso) return "";
  const p = parts(iso, timeZone);
  return `${Number(p.hour)} h ${p.minute}`;
}

function formatDate(iso, timeZone) {
  if (!iso) return "jamais";
  const p = parts(iso, timeZone);
  return `${p.day}/${p.month}/${p.year} à ${p.hour}:${p.minute}:${p.second}`;
}

function deviceItem(cabinId, name) {
  const row = document.querySelector(`tr[data-cabin-id="${cabinId}"]`);
  return row && row.querySelector(`li[data-device="${CSS.escape(name)}"]`);
}

function showState(item, device) {
  const state = item.querySelector('[data-field="state"]');
  state.textContent = device.state_label;
  state.className = STATE_CLASS(device.state);
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

// A device's last value: the newest measurement, and of those taken together (a cuff gives
// its pressures and the pulse at once) the one of lowest precedence, as the hub keeps it.
function showValue(item, value, unit, at, precedence) {
  const last = item.dataset.lastAt;
  if (last) {
    const [shown, incoming] = [new Date(last).getTime(), new Date(at).getTime()];
    if (shown > incoming) return; // an older value arrived late
    if (shown === incoming && Number(item.dataset.precedence) < precedence) return;
  }
  item.dataset.lastAt = at;
  item.dataset.precedence = String(precedence);
  const timeZone = item.closest("tr[data-timezone]")?.dataset.timezone;
  item.querySelector('[data-field="value"]').textContent = `${value} ${unit} · ${formatTime(at, timeZone)}`;
}

function showCabin(cabin) {
  const row = document.querySelector(`tr[data-cabin-id="${cabin.cabin_id}"]`);
  if (!row) return;
  const status = row.querySelector('[data-field="status"]');
  status.textContent = cabin.status_label;
  status.className = `status ${cabin.online ? "online" : "offline"}`;
  if (cabin.last_seen_at) row.querySelector('[data-field="last_seen"]').textContent = formatDate(cabin.last_seen_at, row.dataset.timezone);
  for (const device of cabin.devices || []) {
    const item = deviceItem(cabin.cabin_id, device.name);
    if (item) showState(item, device);
  }
}

on("cabin.status", showCabin);

on("observation.stored", (o) => {
  const item = deviceItem(o.cabin_id, o.device);
  if (item) showValue(item, o.value, o.unit_display, o.measured_at, o.precedence);
});

whenConnected(async () => {
  let cabins;
  try {
    const response = await fetch("/api/v1/cabines", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    cabins = await response.json();
  } catch {
    return; // the next connection catches up
  }
  for (const cabin of cabins) {
    showCabin({ ...cabin, cabin_id: cabin.id });
    for (const device of cabin.devices) {
      const item = deviceItem(cabin.id, device.name);
      if (item && device.last_value !== null) showValue(item, device.last_value, device.last_unit_display, device.last_at, 0);
    }
  }
});

async function sendCommand(button) {
  // The answer shows beside the button where it has its own place (a vitals tile), else
  // under the cabin's devices.
  const scope = button.closest("[data-command-scope]");
  const result = scope
    ? scope.querySelector('[data-field="command-result"]')
    : document.querySelector(`[data-cabin-result="${button.dataset.cabin}"]`);
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
  }
}

for (const button of document.querySelectorAll("button.command")) {
  button.hidden = false;
  button.addEventListener("click", () => sendCommand(button));
}
