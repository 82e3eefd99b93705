// The doctor's « Tiers » panel, live: who is invited, who is in the room, who left — from the
// page's event stream ("consultation.guests"), with « Retirer » for those still taking part.
import { on } from "/static/js/events.js";

const panel = document.querySelector("[data-guests]");
const LABELS = {
  invited: "invité, lien envoyé",
  opened: "a ouvert le lien",
  joined: "présent",
  left: "parti",
  removed: "retiré",
  ended: "terminé",
};
const TAKING_PART = new Set(["invited", "opened", "joined", "left"]);

function item(guest, csrf, id) {
  const li = document.createElement("li");
  li.dataset.guest = guest.id;
  li.dataset.status = guest.status;
  const name = document.createElement("strong");
  name.textContent = guest.name;
  const status = document.createElement("span");
  status.dataset.field = "guest-status";
  status.textContent = LABELS[guest.status] || guest.status;
  li.append(name, ` (${guest.role}) — `, status);
  if (TAKING_PART.has(guest.status)) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/medecin/consultations/${id}/tiers/${guest.id}/retirer`;
    form.className = "inline";
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf;
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Retirer";
    button.setAttribute("aria-label", `Retirer ${guest.name}`);
    form.append(token, button);
    li.append(" ", form);
  }
  return li;
}

if (panel) {
  const id = Number(panel.dataset.consultation);
  const csrf = document.querySelector('input[name="csrf_token"]').value;
  on("consultation.guests", (event) => {
    if (event.consultation_id !== id) return;
    const list = panel.querySelector('[data-field="guests"]');
    list.replaceChildren(...event.guests.map((g) => item(g, csrf, id)));
    document.dispatchEvent(new CustomEvent("guests-changed", { detail: event.guests }));
  });
}
